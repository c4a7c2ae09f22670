/**
 * Wall-clock milliseconds, comparable across the processes of the machine (they read the same
 * system clock). Deliberately not `performance.timeOrigin + performance.now()`: that pairs a
 * start-up wall time with a monotonic clock and drifts from other processes while NTP slews.
 */
export function wallClockMs(): number {
  return Date.now();
}
