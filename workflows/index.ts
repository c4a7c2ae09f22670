import './versioning';
export { runWorkflow } from './run-workflow';
export { sessionWorkflow } from './session-workflow';
export { webhookDeliveryWorkflow } from './webhook-delivery';
export { retentionWorkflow } from './retention-workflow';
