/**
 * Names shared by the bench workflows and the bench process that starts them. Bench-only: the
 * platform's workflows live in workflows/ and never see these.
 */
export const BENCH_TASK_QUEUE_DEFAULT = 'runway-bench';
export const EMPTY_WORKFLOW = 'emptyWorkflow';
export const NOOP_ACTIVITIES_WORKFLOW = 'noopActivitiesWorkflow';
export const EMIT_DELTAS_WORKFLOW = 'emitDeltasWorkflow';

export interface EmitDeltasInput {
  runId: string;
  tokens: number;
  intervalMs: number;
  /** The RunOutputWriter batching options (the activity's defaults unless a bench asks otherwise). */
  writer: { maxDelayMs: number; maxBatch: number };
  /**
   * Wall-clock ms at which every stream begins emitting, so that the burst of starting all the
   * emitter workflows at once is over before the first token (an activity that begins later
   * emits on its own schedule from then).
   */
  startAtMs?: number;
}

/** The step shape of a run without a workspace: reserve and settle local, execute an activity. */
export interface NoopShape {
  activities: number;
  local: number;
  /** Each activity heartbeats once as it begins (as Runway's steps do), then returns. */
  heartbeat?: boolean;
}
