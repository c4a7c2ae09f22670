import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { newResult, type Bench, type BenchContext } from '../lib/bench';
import { createRun, getRun } from '../lib/api-client';
import { runPool } from '../lib/concurrency';
import { CpuMeter, type CpuReport } from '../lib/cpu-meter';
import { threadCpuMs } from '../lib/proc-stats';
import { waitForRunsToDrain } from '../lib/drain';
import { createBenchAccount, type BenchAccount } from '../lib/fixtures';
import { historyProfile } from '../lib/history-profile';
import type { BenchResult } from '../lib/results';
import { waitForRunWorkflow } from '../lib/run-workflow';
import { MCP_NOOP_TOOL } from '../lib/mcp-server';
import { BENCH_AGENT_MODEL, type BenchStack } from '../lib/stack';
import { summarize } from '../lib/stats';
import { formatTable } from '../lib/table';
import { NOOP_ACTIVITIES_WORKFLOW } from '../worker/definitions';
import { freePort } from '../../src/temporal/dev-server';
import type { FakeBehaviour, RecordedMessage } from '../../test/helpers/fake-openai';

/**
 * The run: TOOL_TURNS model turns that each call one tool, each call its own tool step, then a
 * final model turn that answers. That is the issue's "20-step run" (10 turns + 10 tool calls)
 * plus the answer, so STEPS = 21 steps recorded; the floor runs as many no-op activities.
 */
const TOOL_TURNS = 10;
const STEPS = 2 * TOOL_TURNS + 1;
/**
 * A run offers tools only through a workspace (git, sandbox) or an MCP server. The measured run's
 * MCP server is a closed port on 127.0.0.1, so its listing records an error at once and the run
 * offers nothing; the model then calls a tool that does not exist. Each tool step is still a full
 * durable step (activity, step row, events) whose result, an error the model sees, is known at
 * once: the step is platform overhead only. A second, informative variant calls a real MCP
 * server in the bench process whose tool answers at once (what an MCP call adds).
 */
const MISSING_TOOL = 'bench_no_such_tool';
/** Own processes: what each side runs besides Temporal (and, for Runway, PostgreSQL). */
const PLATFORM_OWN = ['api', 'worker'];
const FLOOR_OWN = ['bench-worker'];
const SERVERS = ['temporal', 'postgres'];
const TARGET_RATIO = 1.5;

interface Variant {
  name: string;
  tool: string;
  mcpUrl: string;
  /** Whether its tool steps record an error (the missing tool) or a result. */
  toolErrors: boolean;
  /** The issue's target applies to it; the other variant is informative. */
  targeted: boolean;
}

interface Mode {
  name: string;
  runs: number;
  concurrency: number;
}

interface Phase {
  /** Start to completion of each run or workflow, ms. */
  latencies: number[];
  cpu: CpuReport;
  /** CPU ms by thread name of the side's worker process (where a worker's CPU goes). */
  workerThreads: Record<string, number>;
}

interface DatabaseActivity {
  commits: number;
  rowsWritten: number;
}

/** Per step: wall (median run latency / steps) and CPU (the phase's CPU / all steps). */
interface PerStep {
  wallMs: number;
  cpuOwnMs: number;
  cpuAllMs: number;
}

/**
 * Every request of a bench run: a call of the tool its prompt names for the first TOOL_TURNS
 * turns, then the answer.
 */
function scriptedTurn(body: { messages: RecordedMessage[] }): FakeBehaviour {
  const turn = body.messages.filter((m) => m.role === 'assistant').length;
  if (turn >= TOOL_TURNS) return { kind: 'stream', tokens: ['done'] };
  const prompt = body.messages.find((m) => m.role === 'user')?.content ?? '';
  const name = prompt.includes(MCP_NOOP_TOOL) ? MCP_NOOP_TOOL : MISSING_TOOL;
  return { kind: 'stream', tokens: ['calling'], toolCalls: [{ id: `c${turn}`, name, arguments: '{}' }] };
}

async function measure(stack: BenchStack, mode: Mode, worker: string, one: (i: number) => Promise<void>): Promise<Phase> {
  const latencies: number[] = [];
  const pid = (await stack.processes())[worker]?.[0];
  const threadsBefore = pid ? threadCpuMs(pid) : new Map();
  const meter = new CpuMeter(stack.processes);
  await meter.start();
  await runPool(mode.runs, mode.concurrency, async (i) => {
    const started = performance.now();
    await one(i);
    latencies.push(performance.now() - started);
  });
  const cpu = await meter.stop();
  const workerThreads = pid ? byThreadName(pid, threadsBefore, threadCpuMs(pid)) : {};
  return { latencies, cpu, workerThreads };
}

/**
 * CPU ms each thread name used between two readings (threads started in between count from 0).
 * Threads Node starts inherit its name, so the main thread (tid = pid) is told apart from the
 * other `node` threads (the workflow worker threads and V8's helpers).
 */
function byThreadName(pid: number, before: Map<number, { ms: number }>, after: Map<number, { name: string; ms: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, { name, ms }] of after) {
    const label = tid === pid ? 'main thread' : name === 'node' ? 'other node threads' : name;
    out[label] = (out[label] ?? 0) + ms - (before.get(tid)?.ms ?? 0);
  }
  return out;
}

/**
 * PostgreSQL publishes an idle backend's counters up to 10 s late (PGSTAT_IDLE_INTERVAL), so a
 * count of transactions needs quiet on both sides of what it counts.
 */
const STATS_DELAY_MS = 11_000;

async function databaseActivity(stack: BenchStack): Promise<DatabaseActivity> {
  const { rows } = await sql<{ commits: string; written: string }>`
    SELECT xact_commit AS commits, tup_inserted + tup_updated + tup_deleted AS written
    FROM pg_stat_database WHERE datname = current_database()`.execute(stack.db);
  return { commits: Number(rows[0]?.commits ?? 0), rowsWritten: Number(rows[0]?.written ?? 0) };
}

function perStep(phase: Phase, runs: number, own: string[]): PerStep {
  const sum = (names: string[]) => names.reduce((s, n) => s + (phase.cpu.byComponent[n] ?? 0), 0);
  const steps = runs * STEPS;
  return {
    wallMs: summarize(phase.latencies).p50 / STEPS,
    cpuOwnMs: sum(own) / steps,
    cpuAllMs: sum([...own, ...SERVERS]) / steps,
  };
}

/** Every run succeeded with exactly STEPS steps, its tool steps all recorded an error (or none did). */
async function checkRuns(stack: BenchStack, account: BenchAccount, runIds: string[], toolErrors: boolean): Promise<void> {
  if (runIds.length === 0) return;
  for (const id of runIds) {
    const run = await getRun(stack.api.baseUrl, account.apiKey, id);
    if (run.status !== 'succeeded' || run.steps !== STEPS) throw new Error(`run ${id} ended ${String(run.status)} with ${String(run.steps)} steps, not succeeded with ${STEPS}`);
  }
  const tools = await stack.db
    .selectFrom('run_steps')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('run_id', 'in', runIds)
    .where('kind', '=', 'tool')
    .where(toolErrors ? sql<boolean>`data->>'error' IS NOT NULL` : sql<boolean>`data->>'error' IS NULL`)
    .executeTakeFirstOrThrow();
  const expected = runIds.length * TOOL_TURNS;
  if (Number(tools.n) !== expected) throw new Error(`expected ${expected} tool steps ${toolErrors ? 'with' : 'without'} an error, found ${tools.n}`);
}

/** Where a run's time goes, from its step rows (the database's clock): in steps, between them, before and after. */
async function stages(stack: BenchStack, runIds: string[]): Promise<BenchResult['stages']> {
  const steps = await stack.db.selectFrom('run_steps').select(['run_id', 'index', 'kind', 'started_at', 'finished_at']).where('run_id', 'in', runIds).orderBy('run_id').orderBy('index').execute();
  const runs = await stack.db.selectFrom('runs').select(['id', 'created_at', 'completed_at']).where('id', 'in', runIds).execute();
  const inModel: number[] = [];
  const inTool: number[] = [];
  const between: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  const ms = (a: Date | null | undefined, b: Date | null | undefined) => (a && b ? new Date(b).getTime() - new Date(a).getTime() : Number.NaN);
  for (const run of runs) {
    const own = steps.filter((s) => s.run_id === run.id);
    own.forEach((s, i) => {
      (s.kind === 'model' ? inModel : inTool).push(ms(s.started_at, s.finished_at));
      const next = own[i + 1];
      if (next) between.push(ms(s.finished_at, next.started_at));
    });
    before.push(ms(run.created_at, own[0]?.started_at));
    after.push(ms(own[own.length - 1]?.finished_at, run.completed_at));
  }
  const ok = (v: number[]) => summarize(v.filter(Number.isFinite));
  return {
    'admitted → first step begun': ok(before),
    'model step, row begun → finished': ok(inModel),
    'tool step, row begun → finished': ok(inTool),
    'between steps (finished → next begun)': ok(between),
    'last step finished → run completed': ok(after),
  };
}

const round = (v: number) => Math.round(v * 100) / 100;
const fmt = (v: number) => v.toFixed(2);

/**
 * Platform overhead per step of an agent run, against a model and tools that answer at once, and
 * the floor: a bare Temporal workflow calling as many no-op activities, one after another, on a
 * plain worker, in the same Temporal server, measured the same way in the same bench.
 */
export const agentBench: Bench = {
  name: 'agent',
  title: 'Agent runs: platform overhead per step',
  needs: { platformWorkerDelayMs: 0, benchWorker: true, fakeModel: true },
  async run({ stack, smoke, log }: BenchContext) {
    const { model, mcpUrl } = stack;
    if (!model || !mcpUrl) throw new Error('the agent bench needs the fake model and MCP servers');
    const warmup = smoke ? 0 : 3;
    const modes: Mode[] = smoke
      ? [{ name: 'one at a time', runs: 2, concurrency: 1 }]
      : [
          { name: 'one at a time', runs: 10, concurrency: 1 },
          { name: '10 at once', runs: 20, concurrency: 10 },
        ];
    const closedUrl = `https://127.0.0.1:${await freePort()}/mcp`;
    const variants: Variant[] = [
      { name: 'Runway', tool: MISSING_TOOL, mcpUrl: closedUrl, toolErrors: true, targeted: true },
      { name: 'Runway, MCP tool', tool: MCP_NOOP_TOOL, mcpUrl, toolErrors: false, targeted: false },
    ];
    const result = newResult(agentBench, smoke, {
      steps: STEPS,
      toolTurns: TOOL_TURNS,
      floorActivities: STEPS,
      warmup,
      modes: modes.map((m) => `${m.runs} runs, ${m.concurrency} at a time`).join('; '),
      tool: `${MISSING_TOOL} (not offered: an error result at once); informative: ${MCP_NOOP_TOOL} on a local MCP server`,
    });
    const account = await createBenchAccount(stack.db, 'agent');
    const tag = randomBytes(4).toString('hex');
    const removeScript = model.respond(scriptedTurn);
    let n = 0;
    let lastFloorId = '';
    const lastRunIds: Record<string, string> = {};

    const floor = (heartbeat: boolean) => async () => {
      const handle = await stack.temporal.workflow.start(NOOP_ACTIVITIES_WORKFLOW, {
        taskQueue: stack.benchTaskQueue,
        workflowId: `bench-${tag}-agent-floor-${n++}`,
        args: [{ activities: STEPS, local: 0, heartbeat }],
      });
      await handle.result();
      if (!heartbeat) lastFloorId = handle.workflowId;
    };
    const floorOnce = floor(false);
    const platform = (variant: Variant, runIds: string[]) => async () => {
      const body = {
        prompt: `bench agent run ${n++}: call ${variant.tool}`,
        model: BENCH_AGENT_MODEL,
        maxTokens: 16,
        maxSteps: TOOL_TURNS + 1,
        tools: [{ type: 'mcp', url: variant.mcpUrl }],
      };
      const runId = await createRun(stack.api.baseUrl, account.apiKey, body);
      await waitForRunWorkflow(stack.temporal, runId);
      runIds.push(runId);
      lastRunIds[variant.name] = runId;
    };

    try {
      log(`agent: warming up (${warmup} floor workflows, ${warmup} runs of each variant)`);
      await runPool(warmup, 1, floorOnce);
      for (const variant of variants) {
        const warm: string[] = [];
        await runPool(warmup, 1, platform(variant, warm));
        await checkRuns(stack, account, warm, variant.toolErrors);
      }
      const rows: string[][] = [];
      for (const mode of modes) {
        log(`agent: ${mode.name}: ${mode.runs} floor workflows, then ${mode.runs} runs of each variant`);
        const floorPhase = await measure(stack, mode, 'bench-worker', floorOnce);
        for (const variant of variants) {
          await sleep(500); // let the previous phase's last workflow tasks settle
          const runIds: string[] = [];
          const phase = await measure(stack, mode, 'worker', platform(variant, runIds));
          await checkRuns(stack, account, runIds, variant.toolErrors);
          Object.assign(result.stages, prefixed(`${mode.name}, ${variant.name}`, await stages(stack, runIds)));
          rows.push(...record(result, mode, variant, floorPhase, phase));
          await waitForRunsToDrain(stack.db, undefined, log);
        }
        await sleep(500);
        rows.push(...recordHeartbeatFloor(result, mode, floorPhase, await measure(stack, mode, 'bench-worker', floor(true))));
      }
      if (!smoke) {
        log(`agent: counting PostgreSQL transactions per step (3 runs of each variant between quiet windows of ${STATS_DELAY_MS / 1000} s)`);
        const counted = await databasePerStep(stack, 3, Object.fromEntries(variants.map((v) => [v.name, platform(v, [])])));
        for (const [name, db] of Object.entries(counted)) {
          result.values[`${name}: PostgreSQL commits per step`] = round(db.commits);
          result.values[`${name}: PostgreSQL rows written per step`] = round(db.rowsWritten);
        }
      }
      log(`agent: per step, ${STEPS} steps a run (median run latency / ${STEPS}; CPU of the phase / all its steps)\n${formatTable(['mode', 'figure', 'side', 'value', 'floor', 'ratio', `≤ ${TARGET_RATIO}`], rows)}`);
      await profileHistories(stack, result, { 'floor workflow': lastFloorId, ...prefixedIds(lastRunIds) });
    } finally {
      removeScript();
    }
    result.notes.push(
      `a run: ${TOOL_TURNS} model turns calling one tool each, ${TOOL_TURNS} tool steps, a final answering turn = ${STEPS} steps; the floor: a bare workflow running ${STEPS} no-op activities in sequence on a plain worker (bench/worker), same Temporal server`,
      `the model (fake OpenAI server in the bench process) answers at once; Runway: the tool (${MISSING_TOOL}) is not offered (the run's MCP server is a closed port, its listing fails at once), so each tool step records an error result at once; "Runway, MCP tool" (informative): ${MCP_NOOP_TOOL} on an MCP server in the bench process (official SDK, Streamable HTTP, stateless) that answers at once`,
      `Runway wall: POST /v1/runs → run workflow completed (admission, start, MCP listing, ${STEPS} steps, settle), per step; floor wall: workflow start → result, per step`,
      `CPU "own": Runway = ${PLATFORM_OWN.join(' + ')} processes, floor = ${FLOOR_OWN.join(' + ')}; "with servers" adds ${SERVERS.join(' + ')} to both (the floor uses no database)`,
      'the floor + 1 heartbeat/activity (informative) is compared with the plain floor: what the beat each Runway step sends as it begins costs',
      ...Object.entries(result.cpu).map(([name, c]) => `${name}: machine ${Math.round(c.machineUtilization * 100)}% busy, other processes used ${c.otherMs} CPU ms`),
    );
    return result;
  },
};

const FIGURES: [string, keyof PerStep][] = [
  ['wall ms/step', 'wallMs'],
  ['CPU ms/step, own processes', 'cpuOwnMs'],
  ['CPU ms/step, with Temporal + PostgreSQL', 'cpuAllMs'],
];

/** Records one mode's figures and targets; returns its rows of the summary table. */
function record(result: BenchResult, mode: Mode, variant: Variant, floorPhase: Phase, platformPhase: Phase): string[][] {
  const floor = perStep(floorPhase, mode.runs, FLOOR_OWN);
  const platform = perStep(platformPhase, mode.runs, PLATFORM_OWN);
  const side = `${mode.name}: ${variant.name}`;
  result.cpu[`${mode.name}: floor`] = floorPhase.cpu;
  result.cpu[side] = platformPhase.cpu;
  result.latency[`${mode.name}: floor workflow, start → result`] = summarize(floorPhase.latencies);
  result.latency[`${side}: agent run, POST → completed`] = summarize(platformPhase.latencies);
  const rows: string[][] = [];
  for (const [label, key] of FIGURES) {
    const ratio = platform[key] / floor[key];
    result.values[`${side}: ${label}`] = round(platform[key]);
    result.values[`${mode.name}: floor: ${label}`] = round(floor[key]);
    result.values[`${side}: ratio ${label}`] = round(ratio);
    const targeted = variant.targeted && key !== 'cpuAllMs';
    if (targeted) {
      result.targets.push({
        name: `${mode.name}: ${label}`,
        target: `≤ ${TARGET_RATIO} × floor`,
        measured: `${ratio.toFixed(2)} (${fmt(platform[key])} vs ${fmt(floor[key])})`,
        met: ratio <= TARGET_RATIO,
      });
    }
    rows.push([mode.name, label, variant.name, fmt(platform[key]), fmt(floor[key]), ratio.toFixed(2), targeted ? (ratio <= TARGET_RATIO ? 'yes' : 'NO') : '(info)']);
  }
  const steps = mode.runs * STEPS;
  const phases = variant.targeted ? ([[`${variant.name} worker`, platformPhase], ['floor worker', floorPhase]] as const) : ([[`${variant.name} worker`, platformPhase]] as const);
  for (const [who, phase] of phases) {
    const threads = Object.entries(phase.workerThreads).filter(([, ms]) => ms > 0).sort(([, a], [, b]) => b - a);
    result.notes.push(`${mode.name}: ${who} CPU ms per step by thread: ${threads.map(([name, ms]) => `${name} ${fmt(ms / steps)}`).join(', ')}`);
  }
  return rows;
}

/**
 * The database work of a run, per step: transactions committed (each statement outside a
 * transaction is one) and rows written, for `runs` runs of each kind one at a time, each batch
 * followed by a quiet wait, less what the idle processes (pollers, the bench's own readings)
 * did over as long, at the rate of a quiet window measured first.
 */
async function databasePerStep(stack: BenchStack, runs: number, kinds: Record<string, () => Promise<void>>): Promise<Record<string, DatabaseActivity>> {
  await sleep(STATS_DELAY_MS);
  const quietStart = await databaseActivity(stack);
  await sleep(STATS_DELAY_MS);
  let previous = await databaseActivity(stack);
  const idlePerMs = (key: keyof DatabaseActivity) => (previous[key] - quietStart[key]) / STATS_DELAY_MS;
  const idle = { commits: idlePerMs('commits'), rowsWritten: idlePerMs('rowsWritten') };
  const out: Record<string, DatabaseActivity> = {};
  for (const [name, once] of Object.entries(kinds)) {
    const began = performance.now();
    await runPool(runs, 1, once);
    await sleep(STATS_DELAY_MS);
    const now = await databaseActivity(stack);
    const elapsed = performance.now() - began;
    const net = (key: keyof DatabaseActivity) => (now[key] - previous[key] - idle[key] * elapsed) / (runs * STEPS);
    out[name] = { commits: net('commits'), rowsWritten: net('rowsWritten') };
    previous = now;
  }
  return out;
}

function prefixed<T>(prefix: string, entries: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(entries).map(([k, v]) => [`${prefix}: ${k}`, v]));
}

/**
 * Informative: the floor again with one heartbeat as each activity begins, as Runway's steps beat
 * at once (activities/heartbeat.ts): how much of the gap that first beat accounts for.
 */
function recordHeartbeatFloor(result: BenchResult, mode: Mode, floorPhase: Phase, phase: Phase): string[][] {
  const floor = perStep(floorPhase, mode.runs, FLOOR_OWN);
  const beating = perStep(phase, mode.runs, FLOOR_OWN);
  const side = `${mode.name}: floor + 1 heartbeat/activity`;
  result.cpu[side] = phase.cpu;
  result.latency[`${side}, start → result`] = summarize(phase.latencies);
  return FIGURES.map(([label, key]) => {
    result.values[`${side}: ${label}`] = round(beating[key]);
    return [mode.name, label, 'floor + 1 heartbeat/activity', fmt(beating[key]), fmt(floor[key]), (beating[key] / floor[key]).toFixed(2), '(info)'];
  });
}

function prefixedIds(runIds: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(runIds).map(([variant, id]) => [`agent run (${variant})`, id]));
}

/** What one execution of each wrote to Temporal's history. */
async function profileHistories(stack: BenchStack, result: BenchResult, ids: Record<string, string>): Promise<void> {
  for (const [name, id] of Object.entries(ids)) {
    if (!id) continue;
    const { sequence, ...counts } = await historyProfile(stack.temporal, id);
    for (const [key, value] of Object.entries(counts)) result.values[`${name} history: ${key}`] = value;
    result.notes.push(`${name} history: ${sequence.join(' ')}`);
  }
}
