import { sql, type Kysely } from 'kysely';

/**
 * Completion webhooks: an account's endpoints (their signing secret sealed with
 * RUNWAY_SECRETS_KEY, bound to the endpoint id) and the delivery log. A delivery is created in
 * the transaction that settles its run, once per (endpoint, run, event); `generation` counts the
 * times it was asked to be sent (1, then +1 per manual retry) and `dispatched_generation` how far
 * the dispatcher has started delivery workflows, so a delivery whose workflow was never started
 * (a crash between the commit and the start) is found again by the dispatcher's poll.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhook_endpoints (
      id          text PRIMARY KEY,
      seq         bigserial NOT NULL UNIQUE,
      account_id  text NOT NULL REFERENCES accounts(id),
      url         text NOT NULL,
      events      text[] NOT NULL,
      description text,
      secret_box  jsonb NOT NULL,
      disabled    boolean NOT NULL DEFAULT false,
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_endpoints_account_idx ON webhook_endpoints (account_id, seq DESC);

    CREATE TABLE webhook_deliveries (
      id                    text PRIMARY KEY,
      seq                   bigserial NOT NULL UNIQUE,
      webhook_id            text NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
      account_id            text NOT NULL,
      run_id                text NOT NULL,
      event_type            text NOT NULL CHECK (event_type IN ('run.succeeded', 'run.failed', 'run.stopped')),
      payload               text NOT NULL,
      status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts              integer NOT NULL DEFAULT 0,
      last_status_code      integer,
      last_error            text,
      next_attempt_at       timestamptz,
      generation            integer NOT NULL DEFAULT 1,
      dispatched_generation integer NOT NULL DEFAULT 0,
      created_at            timestamptz NOT NULL DEFAULT now(),
      delivered_at          timestamptz,
      UNIQUE (webhook_id, run_id, event_type)
    );
    CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (webhook_id, seq DESC);
    CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (seq)
      WHERE dispatched_generation < generation;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE webhook_deliveries;
    DROP TABLE webhook_endpoints;
  `.execute(db);
}
