import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { Multitask, RunError, RunProgress, RunStatus, RunStep, SealedBox, WorkspaceSpec } from '../../workflows/types';
import type { McpListing, ModelStepData, RunTool, ToolStepData } from '../tools/types';

// The run's vocabulary is defined once, with the workflow, and shared by the database layer.
export type { Multitask, RunError, RunProgress, RunStatus, RunStep, SealedBox, WorkspaceSpec };

/** Column types of the application database, as Kysely sees them. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type LedgerKind = 'credit' | 'reserve' | 'charge' | 'refund' | 'overrun';

export interface AccountsTable {
  id: string;
  name: string;
  api_key_hash: string;
  balance: ColumnType<number, number | undefined, number>;
  reserved: ColumnType<number, number | undefined, number>;
  max_active_runs: number | null;
  max_active_runs_per_user: number | null;
  /** Scoped tokens carry the generation they were issued in; revoke-all moves it on. */
  token_generation: Generated<number>;
  created_at: Generated<Date>;
}

export interface LedgerTable {
  id: Generated<number>;
  account_id: string;
  run_id: string | null;
  kind: LedgerKind;
  amount: number;
  balance_after: number;
  reserved_after: number;
  idempotency_key: string | null;
  reason: string | null;
  created_at: Generated<Date>;
}

export interface RunsTable {
  id: string;
  /** Insertion order: the stable key of list cursors. */
  seq: Generated<number>;
  account_id: string;
  status: RunStatus;
  step: RunStep;
  progress: Json<RunProgress | null> | null;
  model: string;
  prompt: string;
  max_tokens: number;
  workspace: Json<WorkspaceSpec | null> | null;
  workspace_path: string | null;
  metadata: Json<Record<string, unknown>>;
  /** Metadata written by a scoped token's holder (null: none), kept apart from the tenant's. */
  user_metadata: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  session_id: string | null;
  /** The end user (chosen by the account's backend) the run serves, if any. */
  user_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The session request this run serves (`req_…`), if any. */
  request_id: ColumnType<string | null, string | null | undefined, string | null>;
  retry_of: string | null;
  request_hash: string;
  estimate: number;
  /** Credits per 1,000 tokens, frozen at admission so a price change never alters a running bill. */
  price_input: number;
  price_output: number;
  charged: number | null;
  refunded: number | null;
  /** Credits charged above the estimate (usage the provider reported beyond the reservation); in `charged` too. */
  overrun: Generated<number>;
  input_tokens: Generated<number>;
  output_tokens: Generated<number>;
  output: Generated<string>;
  truncated: Generated<boolean>;
  attempt: Generated<number>;
  error: Json<RunError | null> | null;
  last_event_id: Generated<number>;
  /** Agent runs (null: a plain run): what the model may call, stored without secrets. */
  tools: Json<RunTool[] | null> | null;
  max_steps: number | null;
  /** Credits per second of sandbox time of a tool step. */
  tool_price: Generated<number>;
  /** Steps recorded in run_steps (model turns and tool calls). */
  step_count: Generated<number>;
  /** Credits of finished tool steps, settled with the tokens. */
  tool_cost: Generated<number>;
  /** What the run's MCP servers offered, read once at its start. */
  mcp_tools: Json<McpListing | null> | null;
  created_at: Timestamp;
  started_at: Date | null;
  completed_at: Date | null;
  deleted_at: Date | null;
}

export type SessionStatus = 'open' | 'closing' | 'closed';

export interface SessionsTable {
  id: string;
  /** Insertion order: the stable key of list cursors. */
  seq: Generated<number>;
  account_id: string;
  user_id: ColumnType<string | null, string | null | undefined, string | null>;
  status: ColumnType<SessionStatus, SessionStatus | undefined, SessionStatus>;
  model: string;
  max_tokens: number;
  /** Budget of earlier turns, in estimated tokens, sent with each request. */
  context_tokens: number;
  multitask: Multitask;
  workspace: Json<WorkspaceSpec | null> | null;
  workspace_path: string | null;
  metadata: Json<Record<string, unknown>>;
  /** Metadata written by a scoped token's holder (null: none), kept apart from the tenant's. */
  user_metadata: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  last_event_id: Generated<number>;
  created_at: Generated<Date>;
  closed_at: Date | null;
}

export interface RunEventsTable {
  run_id: string;
  id: number;
  type: string;
  data: Json<Record<string, unknown>>;
  created_at: Generated<Date>;
}

/** The outbox: admitted runs whose workflow has not been started yet. */
export interface RunStartsTable {
  run_id: string;
  /** Ciphertext only (SealedBox); deleted with the row once the workflow has started. */
  sealed_secrets: Json<unknown> | null;
  /** When a relay may take the entry (the admitting API has it until then). */
  available_at: Date;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: Generated<Date>;
}

export interface WorkspaceLeftoversTable {
  /** The run or session whose workspace it was. */
  owner_id: string;
  path: string;
  host_queue: string | null;
  error: string;
  created_at: Generated<Date>;
}

/** Ids of runs removed by retention (see migration 0007). */
export interface PurgedRunsTable {
  id: string;
  account_id: string;
  purged_at: Generated<Date>;
}

export interface RunStepsTable {
  run_id: string;
  index: number;
  kind: 'model' | 'tool';
  data: Json<ModelStepData | ToolStepData>;
  started_at: Generated<Date>;
  finished_at: Date | null;
}

export interface Database {
  run_steps: RunStepsTable;
  accounts: AccountsTable;
  ledger_entries: LedgerTable;
  runs: RunsTable;
  run_events: RunEventsTable;
  sessions: SessionsTable;
  workspace_leftovers: WorkspaceLeftoversTable;
  run_starts: RunStartsTable;
  purged_runs: PurgedRunsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_payloads: WebhookPayloadsTable;
}

export type SessionRow = Selectable<SessionsTable>;

export type AccountRow = Selectable<AccountsTable>;
export type LedgerRow = Selectable<LedgerTable>;
export type RunRow = Selectable<RunsTable>;
export type NewRun = Insertable<RunsTable>;
export type RunEventRow = Selectable<RunEventsTable>;
export type WorkspaceLeftoverRow = Selectable<WorkspaceLeftoversTable>;

export type WebhookEventType = 'run.succeeded' | 'run.failed' | 'run.stopped';
export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookEndpointsTable {
  id: string;
  seq: Generated<number>;
  account_id: string;
  url: string;
  events: ColumnType<WebhookEventType[], WebhookEventType[], WebhookEventType[]>;
  description: string | null;
  /** The signing secret, sealed with RUNWAY_SECRETS_KEY and the endpoint id as associated data. */
  secret_box: Json<SealedBox>;
  disabled: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface WebhookDeliveriesTable {
  id: string;
  seq: Generated<number>;
  webhook_id: string;
  account_id: string;
  run_id: string;
  /** With run_id, the key of its body in `webhook_payloads`. */
  event_type: WebhookEventType;
  status: Generated<WebhookDeliveryStatus>;
  attempts: Generated<number>;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
  generation: Generated<number>;
  dispatched_generation: Generated<number>;
  /**
   * Set while the delivery is parked: its workflow ended before a long retry wait, and the
   * dispatcher starts this attempt (a new workflow) at `next_attempt_at`. Not in flight meanwhile.
   */
  parked_attempt: Generated<number | null>;
  /** The attempt the current generation's running workflow started from (1, or a continuation's). */
  started_attempt: Generated<number>;
  /**
   * Set while a relay has claimed the delivery (marked it in flight) and is starting its workflow;
   * cleared once started. Past it, the relay is presumed dead and another starts it (src/outbox).
   */
  start_lease_until: Date | null;
  /** Starts of the current attempt tried and not confirmed (the outbox's back-off counts them). */
  start_failures: Generated<number>;
  /** Since when its workflow could not be started; past RUNWAY_START_DEADLINE_MS the delivery fails. */
  start_failing_since: Date | null;
  created_at: Generated<Date>;
  delivered_at: Date | null;
}

/** The body of one run's event, stored once for all its deliveries: sent exactly as is on every attempt. */
export interface WebhookPayloadsTable {
  run_id: string;
  event_type: WebhookEventType;
  account_id: string;
  body: string;
  created_at: Generated<Date>;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
