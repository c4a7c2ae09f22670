import { sql, type Kysely } from 'kysely';

/**
 * Webhook deliveries become an outbox like `run_starts` (issue #27, part 2): a relay claims due
 * deliveries and marks them in flight with a start lease in a short transaction, then starts
 * their workflows holding no lock (before, the rows stayed locked while Temporal was called),
 * and confirms each start by clearing its lease. A lease that ends unconfirmed (the relay died)
 * is claimed again. A start that fails is backed off (`start_failures`); a delivery whose
 * workflow could not be started since `start_failing_since` for longer than the deadline is
 * recorded failed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_deliveries ADD COLUMN start_lease_until timestamptz;
    ALTER TABLE webhook_deliveries ADD COLUMN start_failures integer NOT NULL DEFAULT 0;
    ALTER TABLE webhook_deliveries ADD COLUMN start_failing_since timestamptz;
    CREATE INDEX webhook_deliveries_start_lease_idx ON webhook_deliveries (start_lease_until) WHERE start_lease_until IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // A delivery claimed and not confirmed is in flight for the previous release, which would never
  // start it: it is made ready again (its workflow id is the same, so a start made twice is harmless).
  await sql`
    UPDATE webhook_deliveries SET dispatched_generation = generation - 1
     WHERE start_lease_until IS NOT NULL AND started_attempt = 1 AND status = 'pending' AND dispatched_generation = generation AND parked_attempt IS NULL;
    UPDATE webhook_deliveries SET parked_attempt = started_attempt
     WHERE start_lease_until IS NOT NULL AND started_attempt > 1 AND status = 'pending' AND dispatched_generation = generation AND parked_attempt IS NULL;
    DROP INDEX webhook_deliveries_start_lease_idx;
    ALTER TABLE webhook_deliveries DROP COLUMN start_failing_since;
    ALTER TABLE webhook_deliveries DROP COLUMN start_failures;
    ALTER TABLE webhook_deliveries DROP COLUMN start_lease_until;
  `.execute(db);
}
