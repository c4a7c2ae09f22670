/**
 * Event streams open per account, in one API process: each holds a connection, a subscription
 * and buffers, so one tenant opening thousands must not starve the others.
 */
export class StreamSlots {
  private readonly open = new Map<string, number>();

  /** Takes a slot: its release function (idempotent), or undefined when the account has `max` open. */
  take(accountId: string, max: number): (() => void) | undefined {
    const count = this.open.get(accountId) ?? 0;
    if (count >= max) return undefined;
    this.open.set(accountId, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(accountId) ?? 1) - 1;
      if (left > 0) this.open.set(accountId, left);
      else this.open.delete(accountId);
    };
  }
}
