import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric Runway exports, defined once (names prefixed `runway_`). Each process (API,
 * worker) serves the ones it moves on its own `/metrics`; Prometheus sums them across processes.
 * Labels are bounded sets (reasons, statuses, provider names, codes): never an id or a user.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'runway_' });

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

export const metrics = {
  httpRequests: new Counter({
    name: 'runway_http_requests_total',
    help: 'HTTP requests answered by the API, by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  }),
  runsAdmitted: new Counter({ name: 'runway_runs_admitted_total', help: 'Runs admitted (credits reserved)', registers: [registry] }),
  runsRefused: new Counter({
    name: 'runway_runs_refused_total',
    help: 'Runs refused at admission, by reason (insufficient-credits, too-many-active-runs, too-many-active-runs-for-user, session-busy, session-closed, session-not-found)',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  runsFinished: new Counter({
    name: 'runway_runs_finished_total',
    help: 'Runs settled, by terminal status',
    labelNames: ['status'] as const,
    registers: [registry],
  }),
  admissionSeconds: new Histogram({
    name: 'runway_admission_duration_seconds',
    help: 'POST /v1/runs (and session requests): request received to 202 or refusal',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  stopSeconds: new Histogram({
    name: 'runway_stop_duration_seconds',
    help: 'Stop requests: received to answered (the run is stopping, or settled when it had not started)',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  firstTokenSeconds: new Histogram({
    name: 'runway_time_to_first_token_seconds',
    help: 'Model call started to its first output token, by provider',
    labelNames: ['provider'] as const,
    buckets: FIRST_TOKEN_BUCKETS,
    registers: [registry],
  }),
  providerErrors: new Counter({
    name: 'runway_provider_errors_total',
    help: 'Failed model calls, by provider and error code',
    labelNames: ['provider', 'code'] as const,
    registers: [registry],
  }),
  agentSteps: new Counter({
    name: 'runway_agent_steps_total',
    help: 'Steps of agent runs begun, by kind (model, tool)',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  toolCalls: new Counter({
    name: 'runway_tool_calls_total',
    help: 'Tool calls of agent runs finished, by tool (a built-in name, or mcp) and outcome (ok, error)',
    labelNames: ['tool', 'outcome'] as const,
    registers: [registry],
  }),
  providerRetries: new Counter({
    name: 'runway_provider_retries_total',
    help: 'Model calls that are retries of a failed attempt, by provider',
    labelNames: ['provider'] as const,
    registers: [registry],
  }),
  credits: new Counter({
    name: 'runway_credits_total',
    help: 'Credits moved by runs, by kind: reserved at admission, charged and refunded at settlement',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  eventsWritten: new Counter({ name: 'runway_events_written_total', help: 'Run events the worker stored (token deltas and logs)', registers: [registry] }),
  retentionBacklog: new Gauge({
    name: 'runway_retention_backlog',
    help: 'Expired runs and sessions retention has still to purge (counted up to 1,000,000), as last seen by a purge on this worker: one figure for the whole deployment, aggregate with max, not sum',
    registers: [registry],
  }),
  sseConnections: new Gauge({ name: 'runway_sse_connections', help: 'Event streams open on this API process', registers: [registry] }),
  fanoutSeconds: new Histogram({
    name: 'runway_event_fanout_seconds',
    help: "Live events' wait in the API: reaching the process (NOTIFY) to written to a client's stream",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  webhookDeliveries: new Counter({
    name: 'runway_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retry, failed, disabled, gone)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
};

/** Database-wide figures, read when scraped (by the API: one value per deployment, not per process). */
export interface DatabaseGauges {
  activeRuns(): Promise<number>;
  outbox(): Promise<{ count: number; oldestAgeMs: number }>;
}

let databaseGauges: DatabaseGauges | undefined;
let outboxRead: Promise<{ count: number; oldestAgeMs: number }> | undefined;

/** Where the database-wide gauges read from (the API process sets it once it has its database). */
export function readGaugesFrom(source: DatabaseGauges): void {
  databaseGauges = source;
}

/** One outbox query for both of its gauges in a scrape (they are collected together). */
function outboxFigures(source: DatabaseGauges) {
  outboxRead ??= source.outbox().finally(() => setTimeout(() => (outboxRead = undefined), 1000).unref());
  return outboxRead;
}

new Gauge({
  name: 'runway_active_runs',
  help: 'Runs queued, preparing, running or stopping (all accounts)',
  registers: [registry],
  async collect() {
    if (databaseGauges) this.set(await databaseGauges.activeRuns());
  },
});
new Gauge({
  name: 'runway_outbox_backlog',
  help: 'Admitted runs whose workflow is not started yet',
  registers: [registry],
  async collect() {
    if (databaseGauges) this.set((await outboxFigures(databaseGauges)).count);
  },
});
new Gauge({
  name: 'runway_outbox_oldest_age_seconds',
  help: 'Age of the oldest admitted run still waiting for its workflow to start (0: none)',
  registers: [registry],
  async collect() {
    if (databaseGauges) this.set((await outboxFigures(databaseGauges)).oldestAgeMs / 1000);
  },
});

/** A provider's error code as a label: codes are ours, but a provider may add its own words to them. */
export function errorCodeLabel(code: string): string {
  return /^[a-z0-9_]{1,40}$/.test(code) ? code : 'other';
}

/** A run's settlement, counted once: by the call that did it. */
export function countSettlement(status: string, settlement: { charged: number; refunded: number; settledNow: boolean } | null): void {
  if (!settlement?.settledNow) return;
  metrics.runsFinished.inc({ status });
  metrics.credits.inc({ kind: 'charged' }, settlement.charged);
  metrics.credits.inc({ kind: 'refunded' }, settlement.refunded);
}
