/**
 * The delivery retry schedule: the waits between attempts. The default spreads 12 attempts over
 * about 2.8 days (the first one at once), like the Standard Webhooks reference senders.
 */
export const DEFAULT_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h,10h,10h,10h,10h';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A schedule longer than this is refused: nothing retries forever, and a workflow's history stays small. */
export const MAX_SCHEDULE_STEPS = 50;
const MAX_WAIT_MS = 7 * 86_400_000;

/** Parses `5s,5m,30m,2h` into milliseconds, or returns the reason it is refused. */
export function parseRetrySchedule(text: string): number[] | { error: string } {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 1 && parts[0] === '') return [];
  if (parts.length > MAX_SCHEDULE_STEPS) return { error: `at most ${MAX_SCHEDULE_STEPS} waits` };
  const out: number[] = [];
  for (const part of parts) {
    const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(part);
    if (!m) return { error: `"${part}" is not a duration such as 500ms, 5s, 5m, 2h or 1d` };
    const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    if (ms > MAX_WAIT_MS) return { error: `"${part}" is longer than 7 days` };
    out.push(ms);
  }
  return out;
}
