/**
 * Keeps API keys out of anything that may be stored or logged. Providers sometimes echo a key
 * back in an error body ("Incorrect API key provided: sk-…"), a CLI agent may print its
 * environment, and fetch quotes an invalid header value in its own error message.
 */

export const REDACTED = '[redacted]';

/** Runs of key-like characters long enough that a match inside a secret is no coincidence. */
const FRAGMENT = /[A-Za-z0-9_\-.+/=]{8,}/g;

type Secret = string | undefined | null;

function usable(secrets: readonly Secret[]): string[] {
  return secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
}

/** Replaces every secret, and every 8+ character fragment of one (a masked echo), in `text`. */
export function redactText(text: string, secrets: readonly Secret[]): string {
  const keys = usable(secrets);
  if (keys.length === 0 || text === '') return text;
  let out = text;
  for (const key of keys) out = out.split(key).join(REDACTED);
  return out.replace(FRAGMENT, (run) => (keys.some((key) => key.includes(run)) ? REDACTED : run));
}

/** Scrubs an error's message and stack in place (they end up in Temporal history and the run's error). */
export function redactError<T>(err: T, secrets: readonly Secret[]): T {
  if (err instanceof Error && usable(secrets).length > 0) {
    err.message = redactText(err.message, secrets);
    if (err.stack) err.stack = redactText(err.stack, secrets);
  }
  return err;
}

/** Wraps a stream so that whatever it throws is scrubbed of the given secrets. */
export async function* withRedactedErrors<T>(source: AsyncIterable<T>, secrets: readonly Secret[]): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    throw redactError(err, secrets);
  }
}
