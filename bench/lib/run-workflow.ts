import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';

/**
 * Resolves when a run's workflow has completed (after settle: the same end point as a floor
 * workflow's result). The API starts it right after the 202, from the outbox, so it may not
 * exist yet when asked: until it does, ask again every 5 ms.
 */
export async function waitForRunWorkflow(temporal: Client, runId: string): Promise<void> {
  for (;;) {
    try {
      await temporal.workflow.getHandle(runId).result();
      return;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      await sleep(5);
    }
  }
}
