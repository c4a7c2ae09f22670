import { admitRun } from '../../src/runs/admission';
import { withAdmission } from '../../src/runs/run-input';
import { RUN_WORKFLOW_TYPE } from '../../workflows/definitions';
import type { RunWorkflowInput } from '../../workflows/types';
import type { TestStack } from './stack';

/** A run workflow's input as a test starts it directly (bypassing the API): a small demo run. */
export function runWorkflowInput(runId: string, accountId: string, over: Partial<RunWorkflowInput> = {}): RunWorkflowInput {
  return {
    runId,
    accountId,
    model: 'demo/echo',
    prompt: 'hello',
    maxTokens: 5,
    estimate: 10,
    price: { input: 1, output: 1 },
    workspace: null,
    metadata: {},
    sessionId: null,
    requestId: null,
    retryOf: null,
    requestHash: 'hash',
    maxActiveRuns: 10,
    sealedSecrets: null,
    ...over,
  };
}

/**
 * Starts a run workflow with `input` while the stack's worker is down (so it has not taken its
 * first step), runs `meanwhile`, then brings the worker back.
 */
export async function startWhileWorkerDown(stack: TestStack, input: RunWorkflowInput, meanwhile: () => Promise<void>): Promise<void> {
  await stack.stopWorker();
  try {
    await stack.temporal.workflow.start(RUN_WORKFLOW_TYPE, { workflowId: input.runId, taskQueue: stack.config.temporal.taskQueue, args: [input] });
    await meanwhile();
  } finally {
    await stack.startWorker();
  }
}

/**
 * Admits a run exactly as the API does (one transaction: the run, its reservation, its outbox
 * entry) without starting its workflow: the state an API leaves when it dies right after the
 * commit. The entry is left to relays after `startAfterMs`. Returns the input the run's workflow
 * is started with.
 */
export async function admitWithoutStart(stack: TestStack, input: RunWorkflowInput, startAfterMs = 0): Promise<RunWorkflowInput> {
  const admission = await admitRun(stack.db, input, { startAfterMs });
  if (!admission.admitted) throw new Error(`not admitted: ${admission.reason}`);
  return withAdmission(input, admission);
}
