import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { newResult, type Bench, type BenchContext } from '../lib/bench';
import { createRun, echoRunBody } from '../lib/api-client';
import { CpuMeter, type CpuReport } from '../lib/cpu-meter';
import { waitForRunsToDrain } from '../lib/drain';
import { createBenchAccount } from '../lib/fixtures';
import { historyProfile } from '../lib/history-profile';
import { summarize } from '../lib/stats';
import { NOOP_ACTIVITIES_WORKFLOW, type NoopShape } from '../worker/definitions';

/**
 * The floors: the issue's (a bare workflow calling as many no-op activities as a run has steps:
 * reserve, execute, settle) and a stricter one with a run's exact shape (reserve and settle are
 * local activities around the execute activity), which leaves Runway's own work as the only gap.
 */
const ISSUE_FLOOR: NoopShape = { activities: 3, local: 0 };
const RUN_SHAPE: NoopShape = { activities: 1, local: 2 };
const TOKENS = 20;

interface LoopOutcome {
  completed: number;
  windowMs: number;
  /** Start-to-completion of the iterations that completed inside the window, ms. */
  latencies: number[];
}

/**
 * `concurrency` clients, each starting its next iteration when the previous one completed, for
 * `warmupMs + windowMs`; only completions inside the window are counted. In-flight iterations
 * finish after the window (uncounted), so that nothing is left running.
 */
async function closedLoop(concurrency: number, warmupMs: number, windowMs: number, iteration: () => Promise<void>): Promise<LoopOutcome> {
  const begin = performance.now();
  const windowStart = begin + warmupMs;
  const windowEnd = windowStart + windowMs;
  const latencies: number[] = [];
  let completed = 0;
  const client = async () => {
    while (performance.now() < windowEnd) {
      const started = performance.now();
      await iteration();
      const done = performance.now();
      if (done >= windowStart && done <= windowEnd) {
        completed++;
        latencies.push(done - started);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { completed, windowMs, latencies };
}

/**
 * Completed demo/echo runs per second, against the floor: a bare workflow with the same steps
 * (no-op activities and local activities) on a bench worker, in the same run, with the same clients.
 */
export const throughputBench: Bench = {
  name: 'throughput',
  title: 'Throughput: completed runs per second',
  needs: { platformWorkerDelayMs: 0, benchWorker: true },
  async run({ stack, smoke, log }: BenchContext) {
    const windowMs = smoke ? 3_000 : 60_000;
    const warmupMs = smoke ? 1_000 : 5_000;
    const concurrency = smoke ? 4 : 64;
    const result = newResult(throughputBench, smoke, { windowMs, warmupMs, concurrency, tokens: TOKENS, demoDelayMs: 0, floorActivities: ISSUE_FLOOR.activities, runActivities: RUN_SHAPE.activities, runLocalActivities: RUN_SHAPE.local });
    const accounts = await Promise.all(Array.from({ length: concurrency }, (_, i) => createBenchAccount(stack.db, `throughput-${i}`)));
    const tag = randomBytes(4).toString('hex');
    let n = 0;

    const phase = async (name: string, iteration: (client: number) => Promise<void>) => {
      log(`throughput: ${name} for ${(warmupMs + windowMs) / 1000} s`);
      const meter = new CpuMeter(stack.processes);
      await meter.start();
      let next = 0;
      const outcome = await closedLoop(concurrency, warmupMs, windowMs, () => iteration(next++ % concurrency));
      const cpu = await meter.stop();
      if (outcome.completed === 0) throw new Error(`${name}: nothing completed inside the ${windowMs} ms window`);
      result.cpu[name] = cpu;
      result.latency[`${name}: start → completed`] = summarize(outcome.latencies);
      const perSecond = outcome.completed / (outcome.windowMs / 1000);
      result.values[`${name}: completed per second`] = Math.round(perSecond * 10) / 10;
      for (const [component, ms] of Object.entries(cpu.byComponent)) {
        if (ms > 0) result.values[`${name}: CPU ms per run, ${component}`] = round((ms * (windowMs / cpu.wallMs)) / Math.max(1, outcome.completed));
      }
      return perSecond;
    };

    let lastFloorId = '';
    let lastRunId = '';
    const bare = (shape: NoopShape) => async () => {
      const handle = await stack.temporal.workflow.start(NOOP_ACTIVITIES_WORKFLOW, {
        taskQueue: stack.benchTaskQueue,
        workflowId: `bench-${tag}-noop-${n++}`,
        args: [shape],
      });
      await handle.result();
      lastFloorId = handle.workflowId;
    };
    const floor = await phase(`bare workflow, ${ISSUE_FLOOR.activities} no-op activities`, bare(ISSUE_FLOOR));
    await sleep(1000); // let the floor's last workflow tasks settle
    const sameShape = smoke
      ? Number.NaN
      : await phase(`bare workflow, ${RUN_SHAPE.activities} no-op activity + ${RUN_SHAPE.local} local (a run's shape)`, bare(RUN_SHAPE));
    if (!smoke) await sleep(1000);
    const body = echoRunBody(TOKENS);
    const platform = await phase('demo/echo runs via POST /v1/runs', async (client) => {
      const account = accounts[client] ?? accounts[0];
      if (!account) throw new Error('no account');
      const runId = await createRun(stack.api.baseUrl, account.apiKey, body);
      // The run's workflow completes after settle: the same end point as the floor's workflow.
      // It is started right after the 202 (by the API, from the outbox): wait for it to exist.
      for (;;) {
        try {
          await stack.temporal.workflow.getHandle(runId).result();
          break;
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          await sleep(5);
        }
      }
      lastRunId = runId;
    });
    await waitForRunsToDrain(stack.db, undefined, log);

    // Where Temporal's share goes: what one execution of each writes to its history.
    for (const [name, id] of [
      ['bare workflow', lastFloorId],
      ['demo/echo run', lastRunId],
    ] as const) {
      if (!id) continue;
      const { sequence, ...counts } = await historyProfile(stack.temporal, id);
      for (const [key, value] of Object.entries(counts)) result.values[`${name} history: ${key}`] = value;
      result.notes.push(`${name} history: ${sequence.join(' ')}`);
    }

    const ratio = platform / floor;
    result.values['ratio platform / floor'] = round(ratio);
    if (!smoke) result.values["ratio platform / bare workflow of a run's shape (stricter, informative)"] = round(platform / sameShape);
    result.targets.push({
      name: 'throughput ratio',
      target: 'runs/s ≥ 0.8 × floor',
      measured: `${ratio.toFixed(2)} (${platform.toFixed(1)} vs ${floor.toFixed(1)} per s)`,
      met: ratio >= 0.8,
    });
    result.notes.push(
      `each client waits for its workflow's result (Temporal's long poll) before starting the next; ${concurrency} clients, one account each`,
      'CPU ms per run: CPU time of each component during the phase divided by the runs completed in the window',
      describeMachine(result.cpu),
    );
    return result;
  },
};

function describeMachine(cpu: Record<string, CpuReport>): string {
  return Object.entries(cpu)
    .map(([name, c]) => `${name}: machine ${Math.round(c.machineUtilization * 100)}% busy, other processes used ${c.otherMs} CPU ms`)
    .join('; ');
}

const round = (v: number) => Math.round(v * 100) / 100;
