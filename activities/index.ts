import { cleanupWorkspaceActivity } from './cleanup-workspace';
import { outlastingDatabaseOutages } from './database-outage';
import type { ActivityDeps } from './deps';
import { executeModelActivity } from './execute-model';
import { listRunToolsActivity } from './list-tools';
import { runToolActivity } from './run-tool';
import { prepareWorkspaceActivity } from './prepare-workspace';
import { retentionActivities } from './retention';
import { sessionActivities } from './session-activities';
import { settleRunActivity } from './settle-run';
import { webhookActivities } from './webhook-delivery';

export type { ActivityDeps } from './deps';

/** Builds every activity from its dependencies (no module-level singletons). */
export function createActivities(deps: ActivityDeps) {
  return {
    // The long steps have a few attempts each: a database outage must not use them up.
    prepareWorkspace: outlastingDatabaseOutages(deps, prepareWorkspaceActivity(deps)),
    executeModel: outlastingDatabaseOutages(deps, executeModelActivity(deps)),
    runTool: outlastingDatabaseOutages(deps, runToolActivity(deps)),
    listRunTools: outlastingDatabaseOutages(deps, listRunToolsActivity(deps)),
    settleRun: settleRunActivity(deps),
    cleanupWorkspace: outlastingDatabaseOutages(deps, cleanupWorkspaceActivity(deps)),
    ...sessionActivities(deps),
    ...webhookActivities(deps),
    ...retentionActivities(deps),
  };
}

export type RunwayActivities = ReturnType<typeof createActivities>;
