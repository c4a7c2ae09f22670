import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BenchActivities } from './activities';
import type { EmitDeltasInput, NoopShape } from './definitions';

const { noop } = proxyActivities<BenchActivities>({ startToCloseTimeout: '30 seconds' });
// Its own options, so that the other floors' activities carry no heartbeat timeout.
const { noopHeartbeat } = proxyActivities<BenchActivities>({ startToCloseTimeout: '30 seconds', heartbeatTimeout: '10 seconds' });
const { noop: localNoop } = proxyLocalActivities<BenchActivities>({ startToCloseTimeout: '30 seconds' });
const { emitDeltas } = proxyActivities<BenchActivities>({ startToCloseTimeout: '10 minutes' });

/** The floor of a start: a workflow with nothing to do. */
export async function emptyWorkflow(): Promise<void> {}

/**
 * Temporal's own cost of a run's shape: as many activities and local activities as a run has
 * steps, in the same order (a local step first and last, like reserve and settle), doing nothing.
 */
export async function noopActivitiesWorkflow(shape: NoopShape): Promise<void> {
  if (shape.local > 0) await localNoop();
  for (let i = 0; i < shape.activities; i++) await (shape.heartbeat ? noopHeartbeat() : noop());
  for (let i = 1; i < shape.local; i++) await localNoop();
}

/** Streams timestamped deltas into a fixture run through the platform's own output writer. */
export async function emitDeltasWorkflow(input: EmitDeltasInput): Promise<void> {
  await emitDeltas(input);
}
