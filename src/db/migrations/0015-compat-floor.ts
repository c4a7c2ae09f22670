import { sql, type Kysely } from 'kysely';

/**
 * 0.2, the compatibility floor: admission is decided only by the API, before the run's workflow
 * starts, so what only workflows admitting themselves used goes.
 *
 * UPGRADING FROM 0.1 TO 0.2 REQUIRES DRAINING (OR TERMINATING) OPEN RUN WORKFLOWS FIRST: a run
 * workflow started by 0.1 may still call the deleted in-workflow admission, which relied on the
 * table and the function signatures dropped here.
 *
 * - `admission_rejections` (the refusals recorded for workflows deciding their own admission);
 * - every earlier signature of `runway_admit` (18, 20 and 26 positional arguments): the function
 *   is now defined in full by src/db/sql/runway_admit.sql, taking one jsonb argument, applied after
 *   the migrations by the repeatable step, whose hashes `repeatable_sql` records.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE IF EXISTS admission_rejections;
    DO $$
    DECLARE f regprocedure;
    BEGIN
      FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
                 WHERE p.proname = 'runway_admit' AND p.pronamespace = current_schema()::regnamespace LOOP
        EXECUTE 'DROP FUNCTION ' || f;
      END LOOP;
    END $$;
    CREATE TABLE repeatable_sql (
      name       text PRIMARY KEY,
      sha256     text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0015-compat-floor cannot be reverted: 0.1 in-workflow admission is gone');
}
