import { sql, type Kysely } from 'kysely';

/**
 * Webhook fairness and one copy of a payload (issue #26).
 *
 * The body of a run's event is stored once, in `webhook_payloads` keyed by (run, event), instead
 * of once per endpoint in each delivery (a run's 16 KiB of metadata was copied into up to 20
 * rows). A delivery finds its body by its own (run_id, event_type); the foreign key keeps a
 * delivery from outliving the body it signs. Existing deliveries' bodies move there (all the
 * deliveries of one run and event carry the same body: it was computed once per settle).
 *
 * The dispatcher starts an account's deliveries only while fewer than its cap are in flight
 * (started and still pending), round-robin across accounts: the indexes let it find the accounts
 * with a backlog, each one's oldest waiting deliveries, and each one's in-flight count without
 * reading anyone's whole backlog.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhook_payloads (
      run_id     text NOT NULL,
      event_type text NOT NULL CHECK (event_type IN ('run.succeeded', 'run.failed', 'run.stopped')),
      account_id text NOT NULL,
      body       text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (run_id, event_type)
    );
    INSERT INTO webhook_payloads (run_id, event_type, account_id, body)
      SELECT DISTINCT ON (run_id, event_type) run_id, event_type, account_id, payload
      FROM webhook_deliveries ORDER BY run_id, event_type, seq;
    ALTER TABLE webhook_deliveries DROP COLUMN payload;
    ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_payload_fk
      FOREIGN KEY (run_id, event_type) REFERENCES webhook_payloads (run_id, event_type);

    DROP INDEX webhook_deliveries_undispatched_idx;
    CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (account_id, seq)
      WHERE dispatched_generation < generation;
    CREATE INDEX webhook_deliveries_in_flight_idx ON webhook_deliveries (account_id)
      WHERE status = 'pending' AND dispatched_generation = generation;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX webhook_deliveries_in_flight_idx;
    DROP INDEX webhook_deliveries_undispatched_idx;
    CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (seq)
      WHERE dispatched_generation < generation;
    ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_payload_fk;
    ALTER TABLE webhook_deliveries ADD COLUMN payload text;
    UPDATE webhook_deliveries d SET payload = p.body FROM webhook_payloads p
      WHERE p.run_id = d.run_id AND p.event_type = d.event_type;
    ALTER TABLE webhook_deliveries ALTER COLUMN payload SET NOT NULL;
    DROP TABLE webhook_payloads;
  `.execute(db);
}
