import { allowedAddresses, BlockedAddress, type Resolver } from '../net/address-policy';
import { InvalidWebhookUrl } from './errors';

export interface UrlPolicy {
  /** Local development and tests only: also `http`, and loopback or private addresses. */
  allowPrivate: boolean;
  resolve?: Resolver;
  /** How long registration waits for DNS. */
  resolveTimeoutMs?: number;
}

/** Scheme and shape of a webhook URL, without DNS: `https` (or `http` when private targets are allowed), no credentials. */
export function parseWebhookUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidWebhookUrl('not an absolute URL');
  }
  const schemes = allowPrivate ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) throw new InvalidWebhookUrl(allowPrivate ? 'the scheme must be https or http' : 'the scheme must be https');
  if (url.username || url.password) throw new InvalidWebhookUrl('credentials in the URL are not allowed');
  if (!url.hostname) throw new InvalidWebhookUrl('the URL has no host');
  return url;
}

/**
 * The registration check: the URL's shape, then every address its host resolves to (again at
 * every attempt, on the address actually connected to: see send.ts). Returns the normalised URL.
 */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy): Promise<string> {
  const url = parseWebhookUrl(raw, policy.allowPrivate);
  if (policy.allowPrivate) return url.href;
  const timeoutMs = policy.resolveTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      allowedAddresses(url.hostname, policy),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new BlockedAddress(`${url.hostname} did not resolve within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof BlockedAddress) throw new InvalidWebhookUrl(err.message);
    throw new InvalidWebhookUrl(`${url.hostname} does not resolve`);
  } finally {
    clearTimeout(timer);
  }
  return url.href;
}
