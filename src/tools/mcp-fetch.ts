import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { allowedAddresses, BlockedAddress, isBlockedAddress, type Resolver } from '../net/address-policy';

export interface PolicyFetchOptions {
  allowPrivate: boolean;
  /** DNS, TCP connection and TLS handshake of each request. */
  connectTimeoutMs: number;
  /** Bytes of one response body; beyond it the body errors (a server cannot fill the worker's memory). */
  maxResponseBytes: number;
  resolve?: Resolver;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void;

/**
 * The socket's `lookup`: resolves the host, refuses it when any address is not allowed, and hands
 * the socket exactly the addresses it checked, so that no second resolution (DNS rebinding) can
 * send the connection elsewhere. The same defence as webhooks (src/webhooks/send.ts).
 */
function pinnedLookup(options: PolicyFetchOptions) {
  return (hostname: string, opts: { all?: boolean }, callback: LookupCallback) => {
    allowedAddresses(hostname, options).then(
      (addresses) => {
        const first = addresses[0] as { address: string; family: number };
        if (opts.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

const BLOCKED_LITERAL = 'is a loopback, private, link-local or reserved address';

/**
 * The `fetch` the MCP client transport is given: every request the SDK makes (POST, the GET event
 * stream, DELETE, same-origin redirects it follows) goes through the address policy at connect
 * time. Built on node:http rather than the global fetch, whose connection pool and resolver
 * cannot be told to refuse an address: no connection reuse (each request resolves and checks
 * again), no redirects followed here, bounded response bodies.
 */
export function policyFetch(options: PolicyFetchOptions): FetchLike {
  return (input, init) => send(new URL(String(input)), init ?? {}, options);
}

function send(url: URL, init: RequestInit, options: PolicyFetchOptions): Promise<Response> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError('only http and https URLs are allowed'));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // A literal address never goes through `lookup`: check it here.
  if (net.isIP(host) && !options.allowPrivate && isBlockedAddress(host)) {
    return Promise.reject(new BlockedAddress(`${host} ${BLOCKED_LITERAL}`, host));
  }
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') {
    return Promise.reject(new TypeError('only text request bodies are supported'));
  }
  const body = typeof init.body === 'string' ? Buffer.from(init.body) : undefined;
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  if (body) headers['content-length'] = String(body.length);
  return new Promise<Response>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, {
      method: init.method ?? 'GET',
      headers,
      agent: false,
      lookup: pinnedLookup(options) as unknown as net.LookupFunction,
    });
    const connectTimer = setTimeout(() => req.destroy(new Error(`no connection within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
    // Aborting (the transport's close, the run's stop) destroys the socket at once, before or after the response.
    const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
    };
    req.on('socket', (socket) => {
      // For https the handshake is part of connecting: a peer that accepts and never answers it is refused as early.
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      socket.once('connect', () => {
        // Belt and braces: the address actually connected to.
        const remote = socket.remoteAddress;
        if (!options.allowPrivate && (!remote || isBlockedAddress(remote))) {
          req.destroy(new BlockedAddress(`${host} connected to a loopback, private, link-local or reserved address`, remote));
        }
      });
    });
    req.on('error', (err) => {
      done();
      reject(err);
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      res.once('close', done);
      try {
        resolve(toResponse(res, options.maxResponseBytes));
      } catch (err) {
        req.destroy();
        reject(err);
      }
    });
    req.end(body);
  });
}

/** Statuses whose Response may not have a body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

function toResponse(res: http.IncomingMessage, maxBytes: number): Response {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) throw new Error(`the server answered with HTTP status ${status}`);
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i] as string, raw[i + 1] as string);
    } catch {
      // A header the Fetch API refuses is one the SDK would not read either.
    }
  }
  const statusText = /^[\t\x20-\x7e]*$/.test(res.statusMessage ?? '') ? (res.statusMessage ?? '') : '';
  if (NULL_BODY.has(status)) {
    res.resume();
    return new Response(null, { status, statusText, headers });
  }
  return new Response(bodyStream(res, maxBytes), { status, statusText, headers });
}

/** The response body as a web stream: back-pressured, and failing once it passes `maxBytes`. */
function bodyStream(res: http.IncomingMessage, maxBytes: number): ReadableStream<Uint8Array> {
  let total = 0;
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const fail = (err: Error) => {
          if (finished) return;
          finished = true;
          controller.error(err);
          res.destroy();
        };
        res.on('data', (chunk: Buffer) => {
          if (finished) return;
          total += chunk.length;
          if (total > maxBytes) return fail(new Error(`the MCP server's response is larger than ${maxBytes} bytes`));
          controller.enqueue(new Uint8Array(chunk));
          if ((controller.desiredSize ?? 0) <= 0) res.pause();
        });
        res.once('end', () => {
          if (finished) return;
          finished = true;
          controller.close();
        });
        res.once('error', fail);
        res.once('close', () => fail(new Error('the connection closed before the response ended')));
      },
      pull() {
        res.resume();
      },
      cancel() {
        finished = true;
        res.destroy();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
  );
}
