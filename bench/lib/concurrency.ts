/**
 * Runs `task` `total` times with at most `concurrency` in flight (a closed loop of clients, each
 * starting its next request when the previous one answered). Rejects on the first failure.
 */
export async function runPool(total: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const client = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, client));
}

/** Times one call with a monotonic clock, in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}
