import type { Logger } from '../logger';

/** What an event stream opened with a scoped token depends on: its account's generation and its expiry. */
export interface TokenBinding {
  accountId: string;
  /** The generation the token was issued in; a higher one on the account revokes it. */
  generation: number;
  expiresAt: Date;
}

export type TokenEnd = 'token-revoked' | 'token-expired';

interface Watched {
  binding: TokenBinding;
  end(reason: TokenEnd): void;
  timer: NodeJS.Timeout;
}

/** setTimeout's longest delay (about 24.8 days); tokens live at most 24 hours, so this is only a guard. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * The streams of one API process that were opened with a scoped token, so that a token stops
 * working on open connections too, not only on the next request: each is ended at the token's
 * `exp`, and when its account's token generation moves past the token's (revoke-all). The hub
 * tells it about new generations (a NOTIFY every API process hears) and asks it to check again
 * after its listener (re)connects, when a notice may have been missed; each new stream is also
 * checked once against the table, for a revocation committed between its request's
 * authentication and its registration here.
 */
export class TokenWatch {
  private readonly byAccount = new Map<string, Set<Watched>>();

  constructor(
    private readonly readGenerations: (accountIds: string[]) => Promise<Map<string, number>>,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    let n = 0;
    for (const set of this.byAccount.values()) n += set.size;
    return n;
  }

  /** Ends the stream (once) when its token is revoked or expires; returns the unwatch function. */
  watch(binding: TokenBinding, end: (reason: TokenEnd) => void): () => void {
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, binding.expiresAt.getTime() - Date.now()));
    const watched: Watched = {
      binding,
      end: (reason) => {
        unwatch();
        end(reason);
      },
      timer: setTimeout(() => watched.end('token-expired'), delay),
    };
    watched.timer.unref();
    const set = this.byAccount.get(binding.accountId) ?? new Set<Watched>();
    set.add(watched);
    this.byAccount.set(binding.accountId, set);
    let done = false;
    const unwatch = () => {
      if (done) return;
      done = true;
      clearTimeout(watched.timer);
      set.delete(watched);
      if (set.size === 0 && this.byAccount.get(binding.accountId) === set) this.byAccount.delete(binding.accountId);
    };
    void this.check([binding.accountId]);
    return unwatch;
  }

  /** An account's generation is now `generation`: every stream of an older token ends. */
  revoked(accountId: string, generation: number): void {
    const set = this.byAccount.get(accountId);
    if (!set) return;
    for (const watched of [...set]) {
      if (watched.binding.generation < generation) watched.end('token-revoked');
    }
  }

  /** Reads the generations of every watched account (after a reconnection: a notice may be lost). */
  checkAll(): Promise<void> {
    return this.check([...this.byAccount.keys()]);
  }

  private async check(accountIds: string[]): Promise<void> {
    if (accountIds.length === 0) return;
    let generations: Map<string, number>;
    try {
      generations = await this.readGenerations(accountIds);
    } catch (err) {
      // The NOTIFY still ends them; the next reconnection checks again.
      this.logger.warn({ err, accounts: accountIds.length }, 'could not read token generations for open streams');
      return;
    }
    for (const accountId of accountIds) {
      // A deleted account's tokens are all revoked.
      this.revoked(accountId, generations.get(accountId) ?? Number.MAX_SAFE_INTEGER);
    }
  }
}
