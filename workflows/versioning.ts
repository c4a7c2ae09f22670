import { setWorkflowOptions } from '@temporalio/workflow';
import { runWorkflow } from './run-workflow';
import { sessionWorkflow } from './session-workflow';
import { webhookDeliveryWorkflow } from './webhook-delivery';

/**
 * How each workflow moves between worker builds (src/temporal/versioning.ts). A run lasts minutes
 * to hours: it stays on the build it started on, so changing the run workflow needs no patch. A
 * session lives for days and a delivery waits out its retries: they move to each new build at
 * their next task, so their changes still go behind `patched()` (workflows/patches.ts). The
 * retention workflow takes the workers' default (AUTO_UPGRADE).
 */
setWorkflowOptions({ versioningBehavior: 'PINNED' }, runWorkflow);
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, sessionWorkflow);
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, webhookDeliveryWorkflow);
