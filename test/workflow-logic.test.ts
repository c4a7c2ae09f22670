import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { RunwayActivities } from '../activities';
import { connectClient } from '../src/temporal/connection';
import { createLogger } from '../src/logger';
import { deploymentVersionOf, promoteVersion, versionedWorkerOptions } from '../src/temporal/versioning';
import { closeSessionSignal, requestReadySignal, stopSignal } from '../workflows/definitions';
import type { runWorkflow, sessionWorkflow } from '../workflows';
import type { AgentCarry, ExecuteResult, RunWorkflowInput, SessionWorkflowInput } from '../workflows/types';

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

const sessionInput = (over: Partial<SessionWorkflowInput> = {}): SessionWorkflowInput => ({
  sessionId: `ses_logic${randomBytes(8).toString('hex')}`,
  accountId: 'acct_logic',
  multitask: 'enqueue',
  workspace: null,
  idleTimeoutMs: 86_400_000,
  ...over,
});

describe('sessions', () => {

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

/**
 * Agent runs: the model turn (`executeModel` with its `step`) and each tool call it asks for
 * (`runTool`) are steps sharing one numbering. The stand-ins record `turn@<step>` and
 * `tool@<step>:<turn>.<call>`; `script(n)` is the n-th turn's result.
 */
function agentMocks(calls: Calls, script: (n: number) => ExecuteResult, over: Mocks = {}): Mocks {
  let turns = 0;
  return {
    ...defaults(calls),
    listRunTools: async () => {
      calls.push('listRunTools');
      return { tools: 1, errors: 0 };
    },
    executeModel: async (input: { step?: number }) => {
      calls.push(`turn@${input.step}`);
      return script(turns++);
    },
    runTool: async (input: { step: number; turn: number; call: number }) => {
      calls.push(`tool@${input.step}:${input.turn}.${input.call}`);
      return { error: false };
    },
    ...over,
  };
}

/** The steps a loop whose turns asked for `toolsPerTurn[i]` tool calls makes, in order. */
function agentSteps(toolsPerTurn: number[]): string[] {
  const out: string[] = [];
  let step = 0;
  for (const tools of toolsPerTurn) {
    const turn = step++;
    out.push(`turn@${turn}`);
    for (let call = 0; call < tools; call++) out.push(`tool@${step++}:${turn}.${call}`);
  }
  return out;
}

const agentInput = (over: Partial<RunWorkflowInput> = {}, agent: Partial<NonNullable<RunWorkflowInput['agent']>> = {}) =>
  runInput({ ...over, agent: { maxSteps: 20, mcp: false, ...agent } });
const tools = (n: number): ExecuteResult => ({ truncated: false, toolCalls: n });
const ANSWER: ExecuteResult = { truncated: false, toolCalls: 0 };
const until = async (done: () => boolean) => {
  while (!done()) await new Promise((r) => setTimeout(r, 20));
};

/** The executions of a workflow id, oldest first (visibility lags a little behind the runs). */
async function executionsOf(workflowId: string, atLeast: number) {
  for (let tries = 0; ; tries++) {
    const found = [];
    for await (const e of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push(e);
    if ((found.length >= atLeast && found.every((e) => e.status.name !== 'RUNNING')) || tries === 100) {
      return found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The input an execution started with (a continued one carries the loop's state in it). */
async function startInputOf(workflowId: string, runId: string): Promise<RunWorkflowInput> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return defaultPayloadConverter.fromPayload(payload as never);
}

/**
 * The agent cases share one worker (a worker and its version take about 2 s to set up): its
 * stand-ins hand each call to the stand-ins of the run (or session) it serves.
 */
const standIns = new Map<string, Mocks>();
function dispatching(): Mocks {
  const names = Object.keys(agentMocks([], () => ANSWER)) as (keyof RunwayActivities)[];
  const dispatch = (name: keyof RunwayActivities) => async (input: { runId?: string; sessionId?: string }) => {
    const fn = (standIns.get(input.runId ?? '') ?? standIns.get(input.sessionId ?? ''))?.[name];
    if (!fn) throw ApplicationFailure.nonRetryable(`no stand-in ${name} for ${JSON.stringify(input)}`);
    return fn(input as never);
  };
  return Object.fromEntries(names.map((name) => [name, dispatch(name)]));
}
let agentQueue = '';
let releaseAgentWorker = () => undefined as void;
let agentWorker: Promise<void> | undefined;

/** Runs `body` on the shared worker, with `mocks` standing in for the activities of the given runs and sessions. */
async function withStandIns<T>(mocks: Mocks, ids: string[], body: (taskQueue: string) => Promise<T>): Promise<T> {
  for (const id of ids) standIns.set(id, mocks);
  try {
    return await body(agentQueue);
  } finally {
    for (const id of ids) standIns.delete(id);
  }
}

describe('agent runs', () => {
  beforeAll(async () => {
    const released = new Promise<void>((resolve) => (releaseAgentWorker = resolve));
    let ready: (q: string) => void = () => undefined;
    const started = new Promise<string>((resolve) => (ready = resolve));
    agentWorker = withWorker(dispatching(), async (q) => {
      ready(q);
      await released;
    });
    agentQueue = await Promise.race([started, agentWorker.then(() => '')]);
  });
  afterAll(async () => {
    releaseAgentWorker();
    await agentWorker;
  });

  test.each([false, true])('turns, their tool calls, then an answer: steps in order, numbered without a gap (mcp: %s)', async (mcp) => {
    const calls: Calls = [];
    const perTurn = [2, 1, 0];
    const input = agentInput({}, { mcp });
    const result = await withStandIns(agentMocks(calls, (n) => tools(perTurn[n] as number)), [input.runId], (q) =>
      startRunWorkflow(q, input).then((h) => h.result()),
    );
    expect(result).toMatchObject({ status: 'succeeded', error: null });
    // turn 0, its tools 1..2, turn 3, its tool 4, turn 5 (the answer); MCP tools listed first.
    expect(calls).toEqual([
      'prepareWorkspace',
      ...(mcp ? ['listRunTools'] : []),
      'turn@0', 'tool@1:0.0', 'tool@2:0.1', 'turn@3', 'tool@4:3.0', 'turn@5',
      'settleRun:succeeded', 'cleanupWorkspace',
    ]);
  });

  test('a model that keeps calling tools fails at maxSteps turns, its last calls not run; the workspace is removed', async () => {
    const calls: Calls = [];
    const input = agentInput({}, { maxSteps: 3 });
    const result = await withStandIns(agentMocks(calls, () => tools(1)), [input.runId], (q) => startRunWorkflow(q, input).then((h) => h.result()));
    expect(result).toMatchObject({ status: 'failed', error: { code: 'max_steps_reached' } });
    expect(calls).toEqual(['prepareWorkspace', ...agentSteps([1, 1]), 'turn@4', 'cleanupWorkspace', 'settleRun:failed']);
  });

  test('a turn the reservation cannot pay for (capReached) fails the run with spend_cap_reached after its cleanup', async () => {
    const calls: Calls = [];
    const input = agentInput();
    const result = await withStandIns(agentMocks(calls, (n) => (n < 2 ? tools(1) : { truncated: false, capReached: true })), [input.runId], (q) =>
      startRunWorkflow(q, input).then((h) => h.result()),
    );
    expect(result).toMatchObject({ status: 'failed', error: { code: 'spend_cap_reached' } });
    expect(calls).toEqual(['prepareWorkspace', ...agentSteps([1, 1]), 'turn@4', 'cleanupWorkspace', 'settleRun:failed']);
  });

  test('a stop during a tool step cancels the tool, cleans up and settles as stopped; no further turn', async () => {
    const calls: Calls = [];
    const runTool = async () => {
      calls.push('tool');
      await untilCancelled().catch(() => calls.push('tool:cancelled'));
      throw ApplicationFailure.nonRetryable('cancelled', 'cancelled');
    };
    const input = agentInput();
    const result = await withStandIns(agentMocks(calls, () => tools(1), { runTool }), [input.runId], async (q) => {
      const handle = await startRunWorkflow(q, input);
      await until(() => calls.includes('tool'));
      await handle.signal(stopSignal, {});
      return handle.result();
    });
    expect(result).toMatchObject({ status: 'stopped', error: { code: 'stopped' } });
    expect(calls).toEqual(['prepareWorkspace', 'turn@0', 'tool', 'tool:cancelled', 'cleanupWorkspace', 'settleRun:stopped']);
  });

  test('a turn that reports the stop (stopped: true) ends the run stopped, cleaned up', async () => {
    const calls: Calls = [];
    const input = agentInput();
    const result = await withStandIns(agentMocks(calls, (n) => (n < 1 ? tools(1) : { truncated: false, stopped: true })), [input.runId], (q) =>
      startRunWorkflow(q, input).then((h) => h.result()),
    );
    expect(result).toMatchObject({ status: 'stopped', error: { code: 'stopped' } });
    expect(calls).toEqual(['prepareWorkspace', ...agentSteps([1]), 'turn@2', 'cleanupWorkspace', 'settleRun:stopped']);
  });

  /**
   * Each of these runs 50+ turns (the constant cannot be lowered for a test): they run at once,
   * started by the block's beforeAll, and each case checks its own.
   */
  describe('continue-as-new (every 50 turns)', () => {
    const TURNS = 53;
    const perTurn = [...Array<number>(TURNS - 1).fill(1), 0];
    const script = (n: number) => tools(perTurn[n] as number);
    let scenarios: { long: ReturnType<typeof longRun>; stopped: ReturnType<typeof stoppedAtBoundary>; session: ReturnType<typeof sessionRequest> };
    beforeAll(() => {
      scenarios = { long: longRun(), stopped: stoppedAtBoundary(), session: sessionRequest() };
      // Each case awaits its own; a failure is reported there, not as an unhandled rejection.
      for (const p of Object.values(scenarios)) p.catch(() => undefined);
    });

    /** A run with a workspace on its "host" (the shared queue, named as the host's own) and MCP tools. */
    async function longRun() {
      const calls: Calls = [];
      const input = agentInput({}, { maxSteps: 100, mcp: true });
      const prepareWorkspace = async () => {
        calls.push('prepareWorkspace');
        return { path: '/w', taskQueue: agentQueue };
      };
      const result = await withStandIns(agentMocks(calls, script, { prepareWorkspace }), [input.runId], (q) => startRunWorkflow(q, input).then((h) => h.result()));
      const executions = await executionsOf(input.runId, 2);
      const carried = (await startInputOf(input.runId, executions.at(-1)?.runId as string)).agent?.carried;
      return { calls, result, executions: executions.map((e) => e.status.name), carried };
    }

    /**
     * The 50th turn's tool call: the stop arrives while it runs, and it completes anyway (it does
     * not beat, so it never hears of the cancellation).
     */
    async function stoppedAtBoundary() {
      const calls: Calls = [];
      const input = agentInput({}, { maxSteps: 100 });
      const runTool = async ({ step, turn, call }: { step: number; turn: number; call: number }) => {
        calls.push(`tool@${step}:${turn}.${call}`);
        if (step === 99) {
          await client.workflow.getHandle(input.runId).signal(stopSignal, {});
          await new Promise((r) => setTimeout(r, 300));
        }
        return { error: false };
      };
      const result = await withStandIns(agentMocks(calls, script, { runTool }), [input.runId], (q) => startRunWorkflow(q, input).then((h) => h.result()));
      const executions = await executionsOf(input.runId, 1);
      return { calls, result, executions: executions.map((e) => e.status.name) };
    }

    /** A session request (the session's workspace, granted with its turn). */
    async function sessionRequest() {
      const calls: Calls = [];
      const session = sessionInput({ workspace: { repo: 'https://github.com/x/y' } });
      const input = agentInput({ sessionId: session.sessionId, workspace: null }, { maxSteps: 100 });
      return withStandIns(agentMocks(calls, script), [input.runId, session.sessionId], async (q) => {
        const sessionHandle = await client.workflow.start<typeof sessionWorkflow>('sessionWorkflow', { workflowId: session.sessionId, taskQueue: q, args: [session] });
        const handle = await startRunWorkflow(q, input);
        await sessionHandle.signal(requestReadySignal, { runId: input.runId, seq: input.seq });
        const result = await handle.result();
        const executions = await executionsOf(input.runId, 2);
        const carried = (await startInputOf(input.runId, executions.at(-1)?.runId as string)).agent?.carried;
        await sessionHandle.signal(closeSessionSignal);
        await sessionHandle.result();
        const events = (await sessionHandle.fetchHistory()).events ?? [];
        const finishedSignals = events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'requestFinished').length;
        return { calls, result, executions: executions.length, carried, finishedSignals };
      });
    }

    test('a long run continues as new with its place carried: steps numbered without a gap, the workspace removed once, at the end', async () => {
      const { calls, result, executions, carried } = await scenarios.long;
      expect(result).toMatchObject({ status: 'succeeded', error: null });
      expect(calls).toEqual(['prepareWorkspace', 'listRunTools', ...agentSteps(perTurn), 'settleRun:succeeded', 'cleanupWorkspace']);
      expect(executions).toEqual(['CONTINUED_AS_NEW', 'COMPLETED']);
      // 50 turns of one tool call each: steps 0..99 taken, the 51st turn is step 100.
      expect(carried).toEqual<AgentCarry>({ nextStep: 100, turns: 50, workspacePath: '/w', hostQueue: agentQueue });
    }, 30_000);

    test('a stop whose tool step still completes, at the boundary, ends the run stopped: it does not continue as new', async () => {
      const { calls, result, executions } = await scenarios.stopped;
      expect(result).toMatchObject({ status: 'stopped', error: { code: 'stopped' } });
      expect(calls).toEqual(['prepareWorkspace', ...agentSteps(perTurn.slice(0, 50)), 'cleanupWorkspace', 'settleRun:stopped']);
      expect(executions).toEqual(['COMPLETED']);
    }, 30_000);

    test('a session request that continues as new tells its session it finished once, at the very end', async () => {
      const { calls, result, executions, carried, finishedSignals } = await scenarios.session;
      expect(result).toMatchObject({ status: 'succeeded' });
      expect(executions).toBe(2);
      expect(carried).toEqual<AgentCarry>({ nextStep: 100, turns: 50, workspacePath: '/s', hostQueue: null });
      expect(finishedSignals).toBe(1);
      expect(calls.filter((c) => c.startsWith('recordSessionEvent'))).toEqual(['recordSessionEvent:succeeded']);
      expect(calls.filter((c) => c.startsWith('turn@') || c.startsWith('tool@'))).toEqual(agentSteps(perTurn));
      // The session's workspace is the session's to remove, once it closes.
      expect(calls.filter((c) => c.includes('leanup'))).toEqual(['cleanupSessionWorkspace']);
    }, 30_000);
  });
});
