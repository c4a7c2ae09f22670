import { admitInDatabase } from '../../src/db/admission';
import type { AdmissionRequest } from '../../src/runs/admission';
import { runStartOfAdmission, type RunStart } from '../../src/runs/run-input';
import type { TestStack } from './stack';

/** What a test admits directly (bypassing the API): a small demo run. */
export function admissionRequest(runId: string, accountId: string, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
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
    maxActiveRunsPerUser: null,
    sealedSecrets: null,
    user: null,
    ...over,
  };
}

/**
 * Admits a run exactly as the API does (one transaction: the run, its reservation, its outbox
 * entry) without starting its workflow: the state an API leaves when it dies right after the
 * commit. The entry is left to relays after `startAfterMs`. Returns what the run's workflow is
 * started with.
 */
export async function admitWithoutStart(stack: TestStack, request: AdmissionRequest, startAfterMs = 0): Promise<RunStart> {
  const decided = await admitInDatabase(stack.db, request, { startAfterMs });
  if (decided.outcome === 'refused') throw new Error(`not admitted: ${decided.reason}`);
  return runStartOfAdmission(request, decided.seq);
}
