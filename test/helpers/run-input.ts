import type { RunWorkflowInput } from '../../workflows/types';

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
