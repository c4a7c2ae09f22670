import Router from '@koa/router';
import { pingDatabase } from '../../db/database';
import type { ApiDeps } from '../deps';

async function check(name: string, probe: () => Promise<unknown>, timeoutMs = 2000): Promise<[string, string]> {
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
    return [name, err instanceof Error ? err.message : 'unreachable'];
  } finally {
    clearTimeout(timer);
  }
}

/** /healthz: the process is up. /readyz: PostgreSQL and Temporal answer (503 otherwise). */
export function healthRoutes(deps: ApiDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const checks = Object.fromEntries(
      await Promise.all([
        check('postgres', () => pingDatabase(deps.db)),
        check('temporal', () => deps.temporal.workflowService.getSystemInfo({})),
      ]),
    );
    const ready = Object.values(checks).every((v) => v === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
  });
  return router;
}
