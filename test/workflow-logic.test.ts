import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { RunwayActivities } from '../activities';
import { connectClient } from '../src/temporal/connection';
import { createLogger } from '../src/logger';
import { deploymentVersionOf, promoteVersion, versionedWorkerOptions } from '../src/temporal/versioning';
import { closeSessionSignal, requestReadySignal, stopSignal } from '../workflows/definitions';
import type { runWorkflow, sessionWorkflow } from '../workflows';
import type { RunWorkflowInput, SessionWorkflowInput } from '../workflows/types';

/**
 * The workflows' own logic, with every activity replaced by a recording stand-in: the saga's
 * compensation order, stops racing each step, the bounded paths, and a session's interrupt and
 * close. Real workflow code on the suite's Temporal server, no database, no providers: seconds.
 * (Temporal's time-skipping test server is a download this machine cannot make, so the one test
 * that waits on a workflow timer, the bounded cleanup, waits for real: about 3 s.)
 */
type Calls = string[];
type Mocks = Partial<Record<keyof RunwayActivities, (...args: never[]) => Promise<unknown>>>;

let client: Client;
let connection: NativeConnection;
beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
  client = await connectClient(process.env.TEMPORAL_ADDRESS as string, 'runway');
  connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS as string });
});
afterAll(async () => {
  await client?.connection.close();
  await connection?.close();
});

/** Waits until the activity is cancelled (delivered through its heartbeats), then throws. */
async function untilCancelled(): Promise<never> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 100);
  try {
    await ctx.cancelled;
  } finally {
    clearInterval(beat);
  }
  throw new Error('unreachable');
}

/** The default stand-ins: a run that is prepared, executed and settled without trouble. */
function defaults(calls: Calls): Mocks {
  const record = (name: string, result: unknown = undefined) => async (input: unknown) => {
    const detail = (input as { status?: string })?.status;
    calls.push(detail ? `${name}:${detail}` : name);
    return result;
  };
  return {
    prepareWorkspace: record('prepareWorkspace', { path: '/w', taskQueue: null }),
    executeModel: record('executeModel', { truncated: false }),
    settleRun: record('settleRun', { charged: 1, refunded: 1 }),
    cleanupWorkspace: record('cleanupWorkspace'),
    recordSessionEvent: record('recordSessionEvent'),
    recordSessionError: record('recordSessionError'),
    prepareSessionWorkspace: record('prepareSessionWorkspace', { path: '/s', taskQueue: null }),
    cleanupSessionWorkspace: record('cleanupSessionWorkspace'),
    closeSessionRecord: record('closeSessionRecord'),
  };
}

/** Runs `body` with a worker of the real workflows and the given stand-ins on a queue of its own. */
async function withWorker<T>(mocks: Mocks, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `logic-${randomBytes(6).toString('hex')}`;
  // Versioned, as the platform's workers are: Temporal takes a workflow's versioning behaviour
  // only from a versioned worker. The workflows wait until the version is made current.
  const version = deploymentVersionOf(taskQueue, { buildId: process.env.RUNWAY_BUILD_ID, promote: true });
  const worker = await Worker.create({
    connection,
    namespace: 'runway',
    taskQueue,
    workflowBundle: { codePath: process.env.RUNWAY_TEST_BUNDLE as string },
    activities: mocks,
    ...versionedWorkerOptions(version),
  });
  const promoted = promoteVersion(client, version, createLogger('test', 'warn'), new AbortController().signal);
  return worker.runUntil(Promise.all([body(taskQueue), promoted]).then(([result]) => result));
}

/** An admitted run's input (the API reserved its credits before starting it). */
function runInput(over: Partial<RunWorkflowInput> = {}): RunWorkflowInput {
  const runId = `run_logic${randomBytes(8).toString('hex')}`;
  return { runId, accountId: 'acct_logic', user: null, sessionId: null, seq: 1, workspace: { repo: 'https://github.com/x/y' }, sealedSecrets: null, ...over };
}

const startRunWorkflow = (taskQueue: string, input: RunWorkflowInput) =>
  client.workflow.start<typeof runWorkflow>('runWorkflow', { workflowId: input.runId, taskQueue, args: [input] });

describe('the run saga', () => {
  test('a failed execute removes the workspace before settling, and settles as failed', async () => {
    const calls: Calls = [];
    const mocks = { ...defaults(calls), executeModel: async () => {
      calls.push('executeModel');
      throw ApplicationFailure.nonRetryable('bad request', 'provider_bad_request');
    } };
    const result = await withWorker(mocks, (q) => startRunWorkflow(q, runInput()).then((h) => h.result()));
    expect(result).toMatchObject({ status: 'failed', error: { code: 'provider_bad_request' } });
    expect(calls).toEqual(['prepareWorkspace', 'executeModel', 'cleanupWorkspace', 'settleRun:failed']);
  });

  test('a stop whose step then fails otherwise (its worker died: a timeout) still ends the run stopped', async () => {
    const calls: Calls = [];
    const mocks = { ...defaults(calls), executeModel: async () => {
      calls.push('executeModel');
      await untilCancelled().catch(() => undefined);
      throw ApplicationFailure.nonRetryable('lost while stopping', 'worker_lost');
    } };
    const result = await withWorker(mocks, async (q) => {
      const handle = await startRunWorkflow(q, runInput());
      while (!calls.includes('executeModel')) await new Promise((r) => setTimeout(r, 20));
      await handle.signal(stopSignal, {});
      return handle.result();
    });
    expect(result).toMatchObject({ status: 'stopped', error: { code: 'stopped' } });
    expect(calls.slice(-2)).toEqual(['cleanupWorkspace', 'settleRun:stopped']);
  });

  test('a success settles first, then removes the workspace', async () => {
    const calls: Calls = [];
    const result = await withWorker(defaults(calls), (q) => startRunWorkflow(q, runInput()).then((h) => h.result()));
    expect(result).toMatchObject({ status: 'succeeded' });
    expect(calls).toEqual(['prepareWorkspace', 'executeModel', 'settleRun:succeeded', 'cleanupWorkspace']);
  });

  test.each(['prepareWorkspace', 'executeModel'] as const)('a stop during %s cancels it, cleans up, and settles as stopped', async (step) => {
    const calls: Calls = [];
    const mocks = { ...defaults(calls), [step]: async () => {
      calls.push(step);
      return untilCancelled();
    } };
    const result = await withWorker(mocks, async (q) => {
      const handle = await startRunWorkflow(q, runInput());
      while (!calls.includes(step)) await new Promise((r) => setTimeout(r, 20));
      await handle.signal(stopSignal, {});
      return handle.result();
    });
    expect(result).toMatchObject({ status: 'stopped', error: { code: 'stopped' } });
    expect(calls.slice(-2)).toEqual(['cleanupWorkspace', 'settleRun:stopped']);
    expect(calls).not.toContain('settleRun:succeeded');
  });

  test('a cleanup that keeps failing is given up after its bounded attempts, and the run still settles', async () => {
    const calls: Calls = [];
    const mocks = { ...defaults(calls),
      executeModel: async () => {
        throw ApplicationFailure.nonRetryable('boom', 'provider_bad_request');
      },
      cleanupWorkspace: async () => {
        calls.push('cleanupWorkspace');
        throw new Error('ENAMETOOLONG');
      } };
    const result = await withWorker(mocks, (q) => startRunWorkflow(q, runInput()).then((h) => h.result()));
    expect(result).toMatchObject({ status: 'failed' });
    expect(calls.filter((c) => c === 'cleanupWorkspace')).toHaveLength(5);
    expect(calls.at(-1)).toBe('settleRun:failed');
  }, 30_000);
});

describe('sessions', () => {
  const sessionInput = (over: Partial<SessionWorkflowInput> = {}): SessionWorkflowInput => ({
    sessionId: `ses_logic${randomBytes(8).toString('hex')}`,
    accountId: 'acct_logic',
    multitask: 'enqueue',
    workspace: null,
    idleTimeoutMs: 86_400_000,
    ...over,
  });

  test('interrupt: a newer request stops the running one, which is settled as stopped, and then runs', async () => {
    const calls: Calls = [];
    const running = new Set<string>();
    const mocks = { ...defaults(calls), executeModel: async (input: { runId: string }) => {
      calls.push(`executeModel:${input.runId}`);
      running.add(input.runId);
      if (input.runId.endsWith('first')) return untilCancelled();
      return { truncated: false };
    } };
    const results = await withWorker(mocks, async (q) => {
      const session = sessionInput({ multitask: 'interrupt' });
      const sessionHandle = await client.workflow.start<typeof sessionWorkflow>('sessionWorkflow', { workflowId: session.sessionId, taskQueue: q, args: [session] });
      const first = runInput({ runId: `run_${session.sessionId}first`, sessionId: session.sessionId, seq: 1, workspace: null });
      const second = runInput({ runId: `run_${session.sessionId}second`, sessionId: session.sessionId, seq: 2, workspace: null });
      const h1 = await startRunWorkflow(q, first);
      await sessionHandle.signal(requestReadySignal, { runId: first.runId, seq: 1 });
      while (!running.has(first.runId)) await new Promise((r) => setTimeout(r, 20));
      const h2 = await startRunWorkflow(q, second);
      await sessionHandle.signal(requestReadySignal, { runId: second.runId, seq: 2 });
      const out = [await h1.result(), await h2.result()];
      await sessionHandle.signal(closeSessionSignal);
      await sessionHandle.result();
      return out;
    });
    expect(results.map((r) => r.status)).toEqual(['stopped', 'succeeded']);
    expect(calls.filter((c) => c.startsWith('recordSessionEvent'))).toHaveLength(2);
    expect(calls.at(-1)).toBe('closeSessionRecord');
  });

  test('close during the workspace preparation cancels it: no error is recorded, the session closes', async () => {
    const calls: Calls = [];
    const mocks = { ...defaults(calls), prepareSessionWorkspace: async () => {
      calls.push('prepareSessionWorkspace');
      return untilCancelled();
    } };
    await withWorker(mocks, async (q) => {
      const session = sessionInput({ workspace: { repo: 'https://github.com/x/y', setup: ['sleep 600'] } });
      const handle = await client.workflow.start<typeof sessionWorkflow>('sessionWorkflow', { workflowId: session.sessionId, taskQueue: q, args: [session] });
      while (!calls.includes('prepareSessionWorkspace')) await new Promise((r) => setTimeout(r, 20));
      await handle.signal(closeSessionSignal);
      await handle.result();
    });
    expect(calls).not.toContain('recordSessionError');
    expect(calls.slice(-2)).toEqual(['cleanupSessionWorkspace', 'closeSessionRecord']);
  });
});
