import { sql, type Transaction } from 'kysely';
import type { Db } from './database';
import type { Database, LedgerKind, LedgerRow } from './schema';

/**
 * The ledger is append-only and every balance change happens in the same transaction as its row.
 * Semantics of `amount` (always >= 0) by kind:
 *   credit  balance += amount
 *   reserve balance -= amount, reserved += amount
 *   charge  reserved -= amount          (spent for good)
 *   refund  reserved -= amount, balance += amount
 *   overrun balance -= amount          (usage above the reservation, charged at settle)
 * So after every run is terminal: balance = credits - charges - overruns, and reserved = 0.
 * Only an overrun can take the balance below zero (reserve entries must leave it >= 0).
 */
export class AccountNotFoundError extends Error {
  override name = 'AccountNotFoundError';
}

const EFFECTS: Record<LedgerKind, { balance: number; reserved: number }> = {
  credit: { balance: 1, reserved: 0 },
  reserve: { balance: -1, reserved: 1 },
  charge: { balance: 0, reserved: -1 },
  refund: { balance: 1, reserved: -1 },
  overrun: { balance: -1, reserved: 0 },
};

export interface LedgerChange {
  accountId: string;
  kind: LedgerKind;
  amount: number;
  runId?: string;
  /** Unique: a change applied twice under the same key is applied once. */
  idempotencyKey?: string;
  reason?: string;
}

/**
 * Applies one change inside the caller's transaction. Returns false when the idempotency key was
 * already used (the change is then skipped). The account row must already be locked or will be.
 */
export async function applyLedgerChange(trx: Transaction<Database>, change: LedgerChange): Promise<boolean> {
  if (change.idempotencyKey) {
    const seen = await trx
      .selectFrom('ledger_entries')
      .select('id')
      .where('idempotency_key', '=', change.idempotencyKey)
      .executeTakeFirst();
    if (seen) return false;
  }
  const effect = EFFECTS[change.kind];
  const account = await trx
    .updateTable('accounts')
    .set({
      balance: sql`balance + ${effect.balance * change.amount}`,
      reserved: sql`reserved + ${effect.reserved * change.amount}`,
    })
    .where('id', '=', change.accountId)
    .returning(['balance', 'reserved'])
    .executeTakeFirst();
  if (!account) throw new AccountNotFoundError(change.accountId);
  await trx
    .insertInto('ledger_entries')
    .values({
      account_id: change.accountId,
      run_id: change.runId ?? null,
      kind: change.kind,
      amount: change.amount,
      balance_after: account.balance,
      reserved_after: account.reserved,
      idempotency_key: change.idempotencyKey ?? null,
      reason: change.reason ?? null,
    })
    .execute();
  return true;
}

export async function creditAccount(db: Db, accountId: string, amount: number, reason?: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await applyLedgerChange(trx, { accountId, kind: 'credit', amount, reason });
    const row = await trx.selectFrom('accounts').select('balance').where('id', '=', accountId).executeTakeFirstOrThrow();
    return row.balance;
  });
}

export async function listLedger(
  db: Db,
  accountId: string,
  opts: { limit: number; beforeId?: number },
): Promise<LedgerRow[]> {
  let q = db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId);
  if (opts.beforeId !== undefined) q = q.where('id', '<', opts.beforeId);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}
