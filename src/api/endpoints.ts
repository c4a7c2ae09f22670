import type { Endpoint } from './endpoint';
import { metricsEndpoint } from './metrics';
import { accountEndpoints } from './routes/account';
import { adminEndpoints } from './routes/admin';
import { runEventEndpoints } from './routes/events';
import { healthEndpoints } from './routes/health';
import { runEndpoints } from './routes/runs';
import { sessionEndpoints } from './routes/sessions';
import { tokenEndpoints } from './routes/tokens';
import { webhookEndpoints } from './routes/webhooks';

/** Every endpoint of the API (the console's files aside), in the order the OpenAPI document lists them. */
export const ENDPOINTS: readonly Endpoint[] = [
  ...healthEndpoints,
  metricsEndpoint,
  ...adminEndpoints,
  ...accountEndpoints,
  ...runEndpoints,
  ...runEventEndpoints,
  ...sessionEndpoints,
  ...webhookEndpoints,
  ...tokenEndpoints,
];
