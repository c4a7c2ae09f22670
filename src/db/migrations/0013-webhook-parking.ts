import { sql, type Kysely } from 'kysely';

/**
 * Webhook retries wait in PostgreSQL, not in Temporal (issue #26, item 2, second round).
 *
 * A delivery whose next attempt is far off is "parked": its workflow has ended, and
 * `parked_attempt` holds the attempt the dispatcher starts (a new workflow) once
 * `next_attempt_at` has come. A parked delivery stays `pending` (its run is owed a webhook), but it
 * no longer counts against its account's in-flight cap, so an endpoint that keeps failing holds
 * slots only while its attempts run.
 *
 * `started_attempt` is the attempt the generation's current workflow started from: a record of
 * an earlier attempt (a workflow that lost its attempt's answer and reports it after the
 * continuation has started) is not applied, so every attempt is counted once.
 *
 * A delivery is ready to start when a new generation waits (`dispatched_generation < generation`)
 * or it is parked; either way from `next_attempt_at` (a new generation's is when it was queued).
 * The indexes let a dispatch pass find the accounts with ready deliveries, each endpoint's due ones
 * in order of due time (never reading a parked backlog that is not due), and the in-flight counts
 * per account and per endpoint, without parked rows.
 */
const READY = 'dispatched_generation < generation OR parked_attempt IS NOT NULL';
const IN_FLIGHT = "status = 'pending' AND dispatched_generation = generation AND parked_attempt IS NULL";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_deliveries ADD COLUMN parked_attempt integer CHECK (parked_attempt > 1);
    ALTER TABLE webhook_deliveries ADD COLUMN started_attempt integer NOT NULL DEFAULT 1;
    UPDATE webhook_deliveries SET next_attempt_at = now() WHERE dispatched_generation < generation AND next_attempt_at IS NULL;
    DROP INDEX webhook_deliveries_undispatched_idx;
    DROP INDEX webhook_deliveries_in_flight_idx;
    CREATE INDEX webhook_deliveries_ready_idx ON webhook_deliveries (account_id, next_attempt_at, seq) WHERE ${sql.raw(READY)};
    CREATE INDEX webhook_deliveries_endpoint_ready_idx ON webhook_deliveries (webhook_id, next_attempt_at, seq) WHERE ${sql.raw(READY)};
    CREATE INDEX webhook_deliveries_in_flight_idx ON webhook_deliveries (account_id) WHERE ${sql.raw(IN_FLIGHT)};
    CREATE INDEX webhook_deliveries_endpoint_in_flight_idx ON webhook_deliveries (webhook_id) WHERE ${sql.raw(IN_FLIGHT)};
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // A parked delivery's workflow has ended, so the previous release could not start its generation
  // again (same workflow id): it gets a new generation instead, as a manual retry would (a fresh
  // schedule, the same webhook-id).
  await sql`
    DROP INDEX webhook_deliveries_endpoint_in_flight_idx;
    DROP INDEX webhook_deliveries_in_flight_idx;
    DROP INDEX webhook_deliveries_endpoint_ready_idx;
    DROP INDEX webhook_deliveries_ready_idx;
    UPDATE webhook_deliveries SET generation = generation + 1 WHERE parked_attempt IS NOT NULL;
    ALTER TABLE webhook_deliveries DROP COLUMN parked_attempt;
    ALTER TABLE webhook_deliveries DROP COLUMN started_attempt;
    CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (account_id, seq)
      WHERE dispatched_generation < generation;
    CREATE INDEX webhook_deliveries_in_flight_idx ON webhook_deliveries (account_id)
      WHERE status = 'pending' AND dispatched_generation = generation;
  `.execute(db);
}
