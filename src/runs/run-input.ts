import type { RunRow, WorkspaceSpec } from '../db/schema';
import { RUN_PATCH_LEVEL, type AdmittedRun, type RunWorkflowInput, type SealedBox } from '../../workflows/types';

/**
 * The workflow input of an admitted run, rebuilt from its row and its outbox entry (a relay
 * starting a run another process admitted). The same run's input built by the admitting API
 * may differ in metadata's key order only: either starts the same workflow.
 */
/** The platform's default caps, as a run's input carries them. */
export type RunLimits = Pick<RunWorkflowInput, 'maxActiveRuns' | 'maxActiveRunsPerUser'>;

export function workflowInputOf(run: RunRow, sealedSecrets: SealedBox | null, limits: RunLimits): RunWorkflowInput {
  return withAdmission(
    {
      runId: run.id,
      accountId: run.account_id,
      model: run.model,
      prompt: run.prompt,
      maxTokens: run.max_tokens,
      estimate: run.estimate,
      price: { input: run.price_input, output: run.price_output },
      workspace: (run.workspace as WorkspaceSpec | null) ?? null,
      metadata: run.metadata,
      sessionId: run.session_id,
      requestId: run.request_id,
      retryOf: run.retry_of,
      requestHash: run.request_hash,
      ...limits,
      sealedSecrets,
      user: run.user_id,
    },
    { admitted: true, requestHash: run.request_hash, createdAt: run.created_at.toISOString(), seq: run.seq },
  );
}

/** The input a workflow is started with once its run is admitted. */
export function withAdmission(input: RunWorkflowInput, admission: AdmittedRun): RunWorkflowInput {
  return { ...input, admission, patchLevel: RUN_PATCH_LEVEL };
}
