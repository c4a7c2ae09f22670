import { sql } from 'kysely';
import type { Db } from './database';
import type { AccountRow } from './schema';
import { newApiKey, newId, sha256Hex } from '../ids';
import { creditAccount } from './ledger';

export interface CreatedAccount {
  account: AccountRow;
  apiKey: string;
}

/** Creates an account and returns its API key, the only time the key exists in clear. */
export async function createAccount(
  db: Db,
  input: { name: string; credits: number; maxActiveRuns?: number; maxActiveRunsPerUser?: number },
): Promise<CreatedAccount> {
  const apiKey = newApiKey();
  const id = newId('acct');
  await db
    .insertInto('accounts')
    .values({
      id,
      name: input.name,
      api_key_hash: sha256Hex(apiKey),
      max_active_runs: input.maxActiveRuns ?? null,
      max_active_runs_per_user: input.maxActiveRunsPerUser ?? null,
    })
    .execute();
  if (input.credits > 0) await creditAccount(db, id, input.credits, 'initial credits');
  const account = await db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return { account, apiKey };
}

export async function findAccountByApiKey(db: Db, apiKey: string): Promise<AccountRow | undefined> {
  return db.selectFrom('accounts').selectAll().where('api_key_hash', '=', sha256Hex(apiKey)).executeTakeFirst();
}

export async function findAccount(db: Db, id: string): Promise<AccountRow | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * NOTIFY channel of revocations: the payload is `accountId:generation`. Every API process hears
 * it on its event listener connection and ends the streams of tokens older than the generation.
 */
export const TOKENS_REVOKED_CHANNEL = 'runway_tokens_revoked';

/**
 * Revokes every scoped token the account has issued: they carry an older generation from now on.
 * The notice goes out on commit, in the same transaction, so no process hears of a generation
 * that is not there yet.
 */
export async function bumpTokenGeneration(db: Db, accountId: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('accounts')
      .set((eb) => ({ token_generation: eb('token_generation', '+', 1) }))
      .where('id', '=', accountId)
      .returning('token_generation')
      .executeTakeFirstOrThrow();
    await sql`select pg_notify(${TOKENS_REVOKED_CHANNEL}, ${`${accountId}:${row.token_generation}`})`.execute(trx);
    return row.token_generation;
  });
}

/** The current token generation of each account named (accounts since deleted are absent). */
export async function tokenGenerations(db: Db, accountIds: string[]): Promise<Map<string, number>> {
  if (accountIds.length === 0) return new Map();
  const rows = await db.selectFrom('accounts').select(['id', 'token_generation']).where('id', 'in', accountIds).execute();
  return new Map(rows.map((r) => [r.id, r.token_generation]));
}
