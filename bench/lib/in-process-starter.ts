import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { createRunSchema } from '../../src/api/schemas';
import { loadConfig } from '../../src/config';
import { findAccount } from '../../src/db/accounts';
import type { Db } from '../../src/db/database';
import { PriceBook } from '../../src/pricing';
import { createProviderRegistry } from '../../src/providers/create-registry';
import { RunStarter } from '../../src/runs/run-starter';
import type { RunBody } from './api-client';

/**
 * The API's own admission code (src/runs/run-starter.ts) called in the bench process, without
 * HTTP, on a Temporal client whose interceptor times each workflow start: the time of one start
 * minus its workflow start is the admission transaction (and the request's validation).
 */
export function inProcessStarter(deps: { db: Db; temporal: Client; taskQueue: string }) {
  const startMs: number[] = [];
  const timing: WorkflowClientInterceptor = {
    async startWithDetails(input, next) {
      const began = performance.now();
      try {
        return await next(input);
      } finally {
        startMs.push(performance.now() - began);
      }
    },
  };
  const client = new Client({
    connection: deps.temporal.connection,
    namespace: deps.temporal.options.namespace,
    interceptors: { workflow: [timing] },
  });
  const config = loadConfig({ ...process.env, RUNWAY_DEMO_DELAY_MS: '0' });
  const starter = new RunStarter({
    db: deps.db,
    temporal: client,
    prices: new PriceBook(config.prices),
    providers: createProviderRegistry(config),
    secretsKey: Buffer.alloc(32),
    taskQueue: deps.taskQueue,
    maxActiveRuns: 1_000_000,
    workspaces: config.workspaces,
  });
  return {
    /** Workflow start durations (ms) recorded so far, in order. */
    startMs,
    async start(accountId: string, body: RunBody): Promise<void> {
      const account = await findAccount(deps.db, accountId);
      if (!account) throw new Error(`no account ${accountId}`);
      await starter.start(account, createRunSchema.parse(body));
    },
  };
}
