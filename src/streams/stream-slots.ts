/**
 * Event streams open per key (an account, or a token holder within it), in one API process: each holds a connection, a subscription
 * and buffers, so one tenant opening thousands must not starve the others.
 */
export class StreamSlots {
  private readonly open = new Map<string, number>();

  /** Takes a slot: its release function (idempotent), or undefined when the key has `max` open. */
  take(key: string, max: number): (() => void) | undefined {
    const count = this.open.get(key) ?? 0;
    if (count >= max) return undefined;
    this.open.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left > 0) this.open.set(key, left);
      else this.open.delete(key);
    };
  }
}
