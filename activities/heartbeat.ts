import type { Context } from '@temporalio/activity';

export interface HeartbeatOptions {
  /** Interval between beats. Heartbeats carry a stop back from the server, so they go out even while the work is silent. */
  everyMs: number;
  /** The details of each beat, read when it goes out (none by default). */
  details?: () => unknown;
  /** Called after each periodic beat with the number of beats so far (1, 2, 3…). */
  onBeat?: (beats: number) => void;
}

/**
 * Runs `fn` while heartbeating the activity: one beat at once, then one every `everyMs` until
 * `fn` settles (either way).
 */
export async function withHeartbeat<T>(ctx: Context, options: HeartbeatOptions, fn: () => Promise<T>): Promise<T> {
  const details = options.details ?? (() => undefined);
  let beats = 0;
  const timer = setInterval(() => {
    ctx.heartbeat(details());
    options.onBeat?.(++beats);
  }, options.everyMs);
  ctx.heartbeat(details());
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
