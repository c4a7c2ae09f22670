import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
  type WorkflowStartOptions,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';

/**
 * Starts a workflow whose id names the work (a run, a delivery's attempt), so that a start made
 * twice (the admitting API and a relay, two relays after a lease ran out) is harmless: the second
 * joins the first while it runs and is refused once it has closed; never a second execution.
 * True when this call created the workflow, false when it existed already. Bounded by
 * `timeoutMs` (the client retries an unavailable server within it); any other failure throws.
 */
export async function startWorkflowOnce<T extends Workflow>(
  client: Client,
  workflowType: string,
  options: WorkflowStartOptions<T>,
  timeoutMs: number,
): Promise<boolean> {
  try {
    await client.withDeadline(Date.now() + timeoutMs, () =>
      client.workflow.start<T>(workflowType, {
        ...options,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}
