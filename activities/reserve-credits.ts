import { Context } from '@temporalio/activity';
import { admitRun } from '../src/runs/admission';
import type { Admission, RunWorkflowInput } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { failFastOnDataErrors } from './final-errors';

/**
 * Admission from inside a workflow, for runs whose workflow was started before their admission
 * (the design before the outbox; such workflows may still be open). Usually the API decided
 * already and this reads its decision; it decides itself when that API died after the start.
 * Runs admitted by the API now carry their admission in their input and never call this.
 */
export function reserveCreditsActivity(deps: ActivityDeps) {
  return async function reserveCredits(input: RunWorkflowInput): Promise<Admission> {
    return failFastOnDataErrors(() => admitRun(deps.db, input, { executionId: Context.current().info.workflowExecution?.runId ?? '' }));
  };
}
