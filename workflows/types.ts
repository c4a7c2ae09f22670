/**
 * Shapes shared by the workflow, its activities and the API. Types and constants only: this file
 * is bundled into the deterministic workflow sandbox.
 */
import type { RunStatus, TerminalStatus } from './run-vocabulary';

// Statuses, their sets, the stopping rule and the search attributes live in ./run-vocabulary.
export {
  ACTIVE_STATUSES,
  isTerminal,
  RUN_STATUSES,
  RUNWAY_ACCOUNT,
  RUNWAY_SEARCH_ATTRIBUTES,
  RUNWAY_STATUS,
  RUNWAY_USER,
  SEARCH_ATTRIBUTE_NAMES,
  shownStatus,
  TERMINAL_STATUSES,
} from './run-vocabulary';
export type { ActiveStatus, RunStatus, TerminalStatus } from './run-vocabulary';

export type RunStep = 'reserve' | 'prepare' | 'execute' | 'settle' | 'cleanup' | 'done';

export interface WorkspaceSpec {
  repo: string;
  ref?: string;
  branch?: string;
  setup?: string[];
}

/** AES-256-GCM box: secrets cross Temporal history only in this form. */
export interface SealedBox {
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

/**
 * What a run's workflow reads: everything else the run was admitted with (model, prompt, price,
 * caps, metadata, estimate) stays in its row, where its activities read it.
 */
export interface RunWorkflowInput {
  runId: string;
  /** The tenant and end user the run serves (its history names them; they are its search attributes). */
  accountId: string;
  user: string | null;
  sessionId: string | null;
  /** The run's admission order: a session queues its requests in it. */
  seq: number;
  workspace: WorkspaceSpec | null;
  sealedSecrets: SealedBox | null;
  /** Present for an agent run only: a plain run's input (and history) is as it was. */
  agent?: AgentSpec;
}

export interface RunError {
  code: string;
  message: string;
}

/** Attempts at removing a workspace; the last one records what it could not remove. */
export const CLEANUP_ATTEMPTS = 5;
/** A workspace removal beats this often, and is retried when 10 s pass without a beat (its worker died). */
export const CLEANUP_HEARTBEAT_MS = 1_000;

/** The error of a run stopped on request. */
export const STOPPED_ERROR: RunError = { code: 'stopped', message: 'the run was stopped on request' };

export interface RunProgress {
  step: string;
  message?: string;
  pct?: number;
}

export interface RunState {
  status: RunStatus;
  step: RunStep;
  progress: RunProgress | null;
  /** Attempt number of the step now running (1 for the first try). */
  attempt: number;
}

export interface ExecuteResult {
  truncated: boolean;
  /** The worker heard of a stop request and ended the model call before the cancellation came. */
  stopped?: boolean;
  /** An agent turn: how many tool calls the model asked for (its step's next indices are theirs). */
  toolCalls?: number;
  /** An agent turn that was not taken: the reservation cannot pay for it. */
  capReached?: boolean;
}

/** What a tool step tells the workflow: only whether it failed (its result stays in the database). */
export interface ToolStepResult {
  error: boolean;
}

/**
 * An agent run (its `tools`): at most `maxSteps` model turns; `mcp` when its MCP servers' tools
 * must be listed first. `carried` is the loop's state across continue-as-new.
 */
export interface AgentSpec {
  maxSteps: number;
  mcp: boolean;
  carried?: AgentCarry;
}

export interface AgentCarry {
  /** The next step's index (model turns and tool calls share the numbering). */
  nextStep: number;
  turns: number;
  workspacePath: string | null;
  hostQueue: string | null;
}

/** Model turns between two continue-as-new of an agent run: its history stays far from Temporal's limits. */
export const AGENT_TURNS_PER_RUN = 50;
/** An agent run's default and largest `maxSteps`. */
export const DEFAULT_MAX_STEPS = 20;
export const MAX_MAX_STEPS = 500;

export interface PrepareResult {
  /** Absolute path of the prepared workspace, or null when the run has none. */
  path: string | null;
  /** The preparing host's own task queue: the steps that use the workspace run there. */
  taskQueue?: string | null;
}

export interface SettleInput {
  runId: string;
  status: TerminalStatus;
  error: RunError | null;
  truncated: boolean;
}

export interface RunResult {
  status: TerminalStatus;
  error: RunError | null;
  truncated: boolean;
}

export interface ProgressReport {
  step: RunStep;
  attempt: number;
  progress?: RunProgress | null;
}

export type Multitask = 'enqueue' | 'reject' | 'interrupt';

export interface SessionWorkflowInput {
  sessionId: string;
  accountId: string;
  multitask: Multitask;
  workspace: WorkspaceSpec | null;
  /** A session with nothing queued or running for this long closes itself (RUNWAY_SESSION_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** State carried across continue-as-new; absent on the first run. */
  carried?: SessionCarry;
}

/** RUNWAY_SESSION_IDLE_TIMEOUT_MS's default: 24 hours. */
export const DEFAULT_SESSION_IDLE_MS = 24 * 60 * 60 * 1000;

export interface QueuedRequest {
  runId: string;
  /** Admission order. */
  seq: number;
}

export interface SessionCarry {
  queue: QueuedRequest[];
  active: string | null;
  /** Recently finished requests, so a late duplicate `requestReady` is not queued again. */
  finished: string[];
  workspacePath: string | null;
  workspaceTaskQueue?: string | null;
  prepared: boolean;
  closing: boolean;
}

export interface SessionState {
  active: string | null;
  queued: string[];
  closing: boolean;
  multitask: Multitask;
}

/** What a session tells its request when the request's turn comes. */
export interface TurnGrant {
  workspacePath: string | null;
  /** Where the session's workspace lives (its host's task queue), when it has one. */
  taskQueue?: string | null;
}
