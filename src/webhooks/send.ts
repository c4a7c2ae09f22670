import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { allowedAddresses, BlockedAddress, isBlockedAddress, type Resolver } from '../net/address-policy';
import { parseWebhookUrl } from './url-check';

export interface SendOptions {
  allowPrivate: boolean;
  /** The whole attempt: DNS, connection, request and response headers. */
  timeoutMs: number;
  /**
   * DNS, connection and TLS handshake (default: `timeoutMs`). Shorter, so that an address that
   * drops packets gives its slot back early; a receiver that accepts then answers slowly still
   * has `timeoutMs`.
   */
  connectTimeoutMs?: number;
  resolve?: Resolver;
}

export type SendResult =
  | { kind: 'response'; statusCode: number }
  /** No HTTP answer: refused address, DNS failure, connection error, timeout. */
  | { kind: 'error'; message: string };

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void;

/**
 * The `lookup` of the attempt's socket: resolves the host, refuses it when any address is not
 * allowed, and hands the socket exactly the addresses it checked, so no second resolution (DNS
 * rebinding) can send the connection elsewhere.
 */
function pinnedLookup(options: SendOptions) {
  return (hostname: string, opts: { all?: boolean }, callback: LookupCallback) => {
    allowedAddresses(hostname, options).then(
      (addresses) => {
        if (opts.all) callback(null, addresses);
        else callback(null, (addresses[0] as { address: string }).address, (addresses[0] as { family: number }).family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

/**
 * One POST of a webhook: no redirects followed, no connection reuse (each attempt resolves and
 * checks again), the response body ignored, everything bounded by `timeoutMs` and the connection
 * by `connectTimeoutMs`.
 */
export async function sendWebhook(target: { url: string; headers: Record<string, string>; body: string }, options: SendOptions): Promise<SendResult> {
  let url: URL;
  try {
    url = parseWebhookUrl(target.url, options.allowPrivate);
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // A literal address never goes through `lookup`: check it here.
  if (net.isIP(host) && !options.allowPrivate && isBlockedAddress(host)) {
    return { kind: 'error', message: `blocked: ${host} is a loopback, private, link-local or reserved address` };
  }
  const body = Buffer.from(target.body);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (r: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(connectTimer);
      req.destroy();
      resolve(r);
    };
    const req = transport.request(url, {
      method: 'POST',
      headers: { ...target.headers, 'content-length': String(body.length) },
      agent: false,
      lookup: pinnedLookup(options) as unknown as net.LookupFunction,
    });
    const timer = setTimeout(() => finish({ kind: 'error', message: `timed out after ${options.timeoutMs} ms` }), options.timeoutMs);
    const connectMs = Math.min(options.connectTimeoutMs ?? options.timeoutMs, options.timeoutMs);
    const connectTimer = setTimeout(() => finish({ kind: 'error', message: `no connection within ${connectMs} ms` }), connectMs);
    req.on('socket', (socket) => {
      // For https the handshake is part of connecting: a peer that accepts and never answers it is refused as early.
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      socket.once('connect', () => {
        // Belt and braces: the address actually connected to.
        const remote = socket.remoteAddress;
        if (!options.allowPrivate && (!remote || isBlockedAddress(remote))) {
          finish({ kind: 'error', message: `blocked: ${host} connected to a loopback, private, link-local or reserved address` });
        }
      });
    });
    req.on('response', (res) => {
      res.resume();
      finish({ kind: 'response', statusCode: res.statusCode ?? 0 });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish({ kind: 'error', message: attemptError(err, url.host).slice(0, 500) });
    });
    req.end(body);
  });
}

/**
 * What the tenant's delivery log says of a failed attempt. Node's socket errors name the address
 * connected to ("connect ECONNREFUSED 10.0.3.7:443"): the log names the URL's host instead, so a
 * delivery log never maps the platform's network.
 */
function attemptError(err: NodeJS.ErrnoException & { address?: string }, host: string): string {
  if (err instanceof BlockedAddress) return `blocked: ${err.message}`;
  if (err.code && err.address) return `${err.code}: ${err.syscall ?? 'connect'} to ${host} failed`;
  return err.code ? `${err.code}: ${err.message}` : err.message;
}
