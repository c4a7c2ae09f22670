import { sql, type Kysely } from 'kysely';

/**
 * Usage above the reservation is charged (src/db/runs.ts): the provider's key paid for it. The
 * run records it in `overrun`, the ledger in an entry of its own kind (balance -= amount), and
 * the account's balance may go below zero by it. Only an overrun can take the balance there:
 * the balance check moves from the account to the ledger's `reserve` entries (admission reserves
 * only what the balance covers), and credits, charges and refunds never lower it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DO $$
    DECLARE c record;
    BEGIN
      -- The constraints of 0001 were named by PostgreSQL: found by what they say.
      FOR c IN
        SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
        WHERE contype = 'c' AND (
          (conrelid = 'accounts'::regclass AND pg_get_constraintdef(oid) LIKE '%(balance >= 0)%') OR
          (conrelid = 'ledger_entries'::regclass AND pg_get_constraintdef(oid) LIKE '%kind%') OR
          (conrelid = 'runs'::regclass AND pg_get_constraintdef(oid) LIKE '%(charged + refunded)%'))
      LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
      END LOOP;
    END $$;

    ALTER TABLE ledger_entries
      ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN ('credit', 'reserve', 'charge', 'refund', 'overrun')),
      ADD CONSTRAINT ledger_entries_reserve_covered CHECK (kind <> 'reserve' OR balance_after >= 0);
    ALTER TABLE runs
      ADD COLUMN overrun bigint NOT NULL DEFAULT 0 CHECK (overrun >= 0),
      ADD CONSTRAINT runs_settled_check CHECK (charged IS NULL OR refunded IS NULL OR charged + refunded = estimate + overrun);
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0014-overuse cannot be reverted: balances may be below zero by charged overruns');
}
