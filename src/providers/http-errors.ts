import { excerpt } from '../text';
import { ProviderError } from './types';

/**
 * A Retry-After above this fails the run instead of holding its reservation (and a worker slot)
 * for minutes; the client may retry the run later.
 */
export const MAX_RETRY_AFTER_SECONDS = 60;

/** Retry-After as seconds (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/** 408, 429 and 5xx (Anthropic's 529 "overloaded" included) may succeed later; other 4xx will not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A non-2xx answer, classified; the body excerpt helps the user (keys in it are scrubbed later). */
export async function httpError(response: Response): Promise<ProviderError> {
  const status = response.status;
  // The excerpt becomes the run's error, stored as jsonb: it must be storable whatever the body holds.
  const body = excerpt((await response.text().catch(() => '')).replace(/\s+/g, ' ').trim(), 500);
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  const tooLong = retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_SECONDS;
  const message = `provider answered ${status}${body ? `: ${body}` : ''}${tooLong ? ` (asked to retry after ${Math.round(retryAfter)} s)` : ''}`;
  return new ProviderError(message, `provider_http_${status}`, isRetryableStatus(status) && !tooLong, tooLong ? undefined : retryAfter);
}

/** A 3xx: never followed (it could carry the key elsewhere), and retrying would get the same answer. */
export async function redirectError(response: Response): Promise<ProviderError> {
  // Silent on purpose: the body is discarded unread; failing to discard it changes nothing.
  await response.body?.cancel().catch(() => undefined);
  const location = excerpt(response.headers.get('location') ?? '', 200);
  return new ProviderError(
    `provider answered ${response.status}, a redirect${location ? ` to ${location}` : ''}; redirects are not followed, so that the API key stays with the configured base URL (point it at the final address)`,
    'provider_redirect',
    false,
  );
}

/** A failure before or while reading the answer: the caller's stop, our idle timeout, or the network. */
export function transportError(err: unknown, callSignal: AbortSignal, idleSignal: AbortSignal): unknown {
  if (callSignal.aborted) return err; // a stop: let the caller see its own abort
  if (idleSignal.aborted) return new ProviderError('provider sent nothing for too long', 'provider_timeout', true);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError(`provider unreachable: ${message}${cause}`, 'provider_unreachable', true);
}
