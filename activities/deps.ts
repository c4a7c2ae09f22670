import type { Db } from '../src/db/database';
import type { Logger } from '../src/logger';
import type { RunStopWatcher } from '../src/worker/run-stop-listener';
import type { ProviderRegistry } from '../src/providers/registry';
import type { Sandbox } from '../src/workspaces/sandbox';
import type { WorkspaceSettings } from '../src/workspaces/settings';
import type { LogLimits, RetentionSettings } from '../src/config';
import type { ProgressReport } from '../workflows/types';

/** What activities need from the outside world; the worker wires real clients, so do tests. */
export interface ActivityDeps {
  db: Db;
  providers: ProviderRegistry;
  /** Opens the sealed per-run secrets. */
  secretsKey: Buffer;
  /** The task queue only this worker's host polls: where a workspace's later steps must run. */
  hostTaskQueue: string;
  /** Longest wait of a token delta before it is written and published (the batch window). */
  eventBatchMs?: number;
  /** Root folder of run workspaces. */
  workspacesDir: string;
  /** Source allow-list, sandbox, limits and retention of workspaces. */
  workspaces: WorkspaceSettings;
  /** Where setup commands run; detected once per worker and shared with CLI agents. */
  sandbox: Sandbox;
  /** Tells the run's workflow about progress (step attempt, workspace steps); best effort. */
  reportProgress: (runId: string, report: ProgressReport) => Promise<void>;
  logger: Logger;
  /** Stop requests heard before the workflow's cancellation arrives (optional: a speed-up only). */
  stops?: RunStopWatcher;
  /** Webhook attempts: private targets allowed (development only), HTTP and connect timeouts. Default: refused, 10 s, 3 s. */
  webhooks?: { allowPrivate: boolean; timeoutMs: number; connectTimeoutMs: number };
  /** MCP servers of agent runs: private addresses allowed (RUNWAY_MCP_ALLOW_PRIVATE, development only). Default: refused. */
  mcp?: { allowPrivate: boolean; timeoutMs?: number };
  /** Finished work older than `days` is purged, `batchSize` runs a transaction; absent or 0 days: kept. */
  retention?: RetentionSettings;
  /** Bounds of stored log lines; absent: DEFAULT_LOG_LIMITS. */
  logLimits?: LogLimits;
}
