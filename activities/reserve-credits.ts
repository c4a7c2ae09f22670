import { Context } from '@temporalio/activity';
import { admitRun } from '../src/runs/admission';
import type { Admission, RunWorkflowInput } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { failFastOnDataErrors } from './final-errors';

/**
 * Debits the estimate into a reservation, only if the balance covers it. Usually the API decided
 * already and this reads its decision; it decides itself when the API died after the start.
 */
export function reserveCreditsActivity(deps: ActivityDeps) {
  return async function reserveCredits(input: RunWorkflowInput): Promise<Admission> {
    return failFastOnDataErrors(() => admitRun(deps.db, input, Context.current().info.workflowExecution?.runId ?? ''));
  };
}
