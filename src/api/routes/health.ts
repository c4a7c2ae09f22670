import { runStartBacklog } from '../../db/run-starts';
import type { ApiDeps } from '../deps';
import { endpoint } from '../endpoint';

/**
 * One dependency's state, for anyone (the endpoint is unauthenticated): "ok" or "unavailable".
 * Why it is unavailable (a host, a port, a driver's message) is for the operator's log only.
 */
async function check(deps: ApiDeps, name: string, probe: () => Promise<unknown>, timeoutMs = 2000): Promise<[string, string]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
      }),
    ]);
    return [name, 'ok'];
  } catch (err) {
    deps.logger.warn({ err, dependency: name }, 'readiness check failed');
    return [name, 'unavailable'];
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /healthz: the process is up. /readyz: whether this API can accept runs, which needs PostgreSQL
 * only: a run admitted while Temporal is unreachable waits in the outbox and starts when it
 * answers again. The body shows both, and the outbox's backlog (runs not started yet, and the
 * age of the oldest), so an operator sees a Temporal outage building up.
 */
export const healthEndpoints = [
  endpoint({
    method: 'get', path: '/healthz', summary: 'The process is up', auth: 'none', internal: true,
    handle({ ctx }) {
      ctx.body = { status: 'ok' };
    },
  }),
  endpoint({
    method: 'get', path: '/readyz', summary: 'Whether this API can accept runs', auth: 'none', internal: true,
    async handle({ ctx, deps }) {
      let outbox: Awaited<ReturnType<typeof runStartBacklog>> | null = null;
      const checks = Object.fromEntries(
        await Promise.all([
          check(deps, 'postgres', async () => {
            outbox = await runStartBacklog(deps.db);
          }),
          check(deps, 'temporal', () => deps.temporal.workflowService.getSystemInfo({})),
        ]),
      );
      const ready = checks.postgres === 'ok';
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ready' : 'unavailable', checks, outbox };
    },
  }),
  endpoint({
    method: 'get', path: '/openapi.json', summary: 'This API\'s OpenAPI document', auth: 'none', internal: true,
    handle({ ctx, openapi }) {
      ctx.body = openapi;
    },
  }),
];
