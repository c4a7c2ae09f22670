import { randomBytes } from 'node:crypto';
import { fmtMs, newResult, type Bench, type BenchContext } from '../lib/bench';
import { echoRunBody } from '../lib/api-client';
import { runPool, timed } from '../lib/concurrency';
import { CpuMeter } from '../lib/cpu-meter';
import { waitForRunsToDrain, waitForWorkflowsToClose } from '../lib/drain';
import { createBenchAccount, type BenchAccount } from '../lib/fixtures';
import { httpLoad } from '../lib/http-load';
import { inProcessStarter } from '../lib/in-process-starter';
import { chartSeries } from '../lib/results';
import { summarize } from '../lib/stats';
import { RUNWAY_ACCOUNT, RUNWAY_STATUS } from '../../workflows/types';
import { EMPTY_WORKFLOW } from '../worker/definitions';

/** Sends `count` requests with `clients` concurrent clients; resolves with each one's latency (ms). */
type Load = (count: number, clients: number) => Promise<number[]>;

const FLOOR = 'workflow.start (Temporal floor)';
const START_AS_API = 'workflow.start + search attributes, memo';
const AUTH = 'GET /v1/account (HTTP + auth)';
const IN_PROCESS = 'RunStarter.start in the bench process (no HTTP)';
const POST = 'POST /v1/runs';
const ONE_ACCOUNT = 'POST /v1/runs, all on one account';

/**
 * POST /v1/runs → 202 under load, next to a ladder of floors measured in the same run. The API
 * admits a run with one workflow start (with the run's search attributes and memo) followed by
 * one database transaction (src/runs/run-starter.ts), so the rungs are: a bare start, the start
 * as the API makes it, an authenticated GET (HTTP + auth), the API's admission code called in
 * the bench process (no HTTP; its workflow start timed apart), then the real thing. Each rung runs at
 * 32 concurrent clients (the target's condition: latency includes queueing) and with a single
 * client (service time: where the time goes).
 */
export const startLatencyBench: Bench = {
  name: 'start',
  title: 'Start latency: POST /v1/runs → 202',
  needs: { platformWorkerDelayMs: 0, benchWorker: true },
  async run({ stack, smoke, log }: BenchContext) {
    // Smoke mode keeps the number of runs small: each one is executed afterwards, and on this
    // machine the platform completes only a handful per second.
    const requests = smoke ? 16 : 2000;
    const sequential = smoke ? 3 : 100;
    const connections = smoke ? 8 : 32;
    const warmup = smoke ? 2 : 100;
    const result = newResult(startLatencyBench, smoke, { requests, connections, singleClientRequests: sequential, warmup, demoDelayMs: 0, tokens: 4 });
    const accounts = await Promise.all(Array.from({ length: connections }, (_, i) => createBenchAccount(stack.db, `start-${i}`)));
    const single = await createBenchAccount(stack.db, 'start-single');
    const samples: Record<string, number[]> = {};
    const starter = inProcessStarter({ db: stack.db, temporal: stack.temporal, taskQueue: stack.platformTaskQueue });
    const drain = async () => {
      await waitForRunsToDrain(stack.db, undefined, log);
      await waitForWorkflowsToClose(stack.temporal, stack.benchTaskQueue);
    };
    const tag = randomBytes(4).toString('hex');
    let n = 0;

    const temporalLoad =
      (start: (workflowId: string) => Promise<unknown>): Load =>
      async (count, clients) => {
        const latencies: number[] = [];
        await runPool(count, clients, async () => {
          const { ms } = await timed(() => start(`bench-${tag}-${n++}`));
          latencies.push(ms);
        });
        return latencies;
      };
    const http =
      (name: string, method: 'GET' | 'POST', path: string, status: number, owners: BenchAccount[]): Load =>
      async (amount, clients) => {
        const res = await httpLoad({
          url: `${stack.api.baseUrl}${path}`,
          method,
          headersPerConnection: owners.map((a) => ({ authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json' })),
          body: method === 'POST' ? JSON.stringify(echoRunBody(4)) : undefined,
          amount,
          connections: clients,
        });
        if ((res.statuses[status] ?? 0) !== res.latencies.length || res.errors > 0 || res.timeouts > 0) {
          throw new Error(`${name}: ${JSON.stringify(res.statuses)}, ${res.errors} errors, ${res.timeouts} timeouts`);
        }
        return res.latencies;
      };

    const rungs: [string, Load][] = [
      [FLOOR, temporalLoad((workflowId) => stack.temporal.workflow.start(EMPTY_WORKFLOW, { taskQueue: stack.benchTaskQueue, workflowId }))],
      [
        START_AS_API,
        temporalLoad((workflowId) =>
          stack.temporal.workflow.start(EMPTY_WORKFLOW, {
            taskQueue: stack.benchTaskQueue,
            workflowId,
            typedSearchAttributes: [
              { key: RUNWAY_ACCOUNT, value: 'acct_bench' },
              { key: RUNWAY_STATUS, value: 'queued' },
            ],
            memo: { model: 'demo/echo', prompt: 'w0 w1 w2 w3' },
            staticSummary: 'demo/echo run for acct_bench',
          }),
        ),
      ],
      [AUTH, http('GET /v1/account', 'GET', '/v1/account', 200, accounts)],
      [
        IN_PROCESS,
        async (count, clients) => {
          const latencies: number[] = [];
          let next = 0;
          await runPool(count, clients, async () => {
            const account = accounts[next++ % accounts.length] as BenchAccount;
            const { ms } = await timed(() => starter.start(account.id, echoRunBody(4)));
            latencies.push(ms);
          });
          return latencies;
        },
      ],
      [POST, http(POST, 'POST', '/v1/runs', 202, accounts)],
    ];
    // Informative, so smaller: every run admitted here has to be executed before the next bench.
    const oneAccountRequests = 500;
    if (!smoke) rungs.push([ONE_ACCOUNT, http(POST, 'POST', '/v1/runs', 202, [single])]);
    for (const [name, load] of rungs) {
      log(`start: ${name}`);
      await load(warmup, connections);
      const meter = new CpuMeter(stack.processes);
      await meter.start();
      const startsBefore = starter.startMs.length;
      samples[name] = await load(name === ONE_ACCOUNT ? oneAccountRequests : requests, connections);
      result.cpu[name] = await meter.stop();
      result.latency[name] = summarize(samples[name] ?? []);
      const splitStarts = (label: string, from: number, total: number[]) => {
        // The admission's workflow start, and the rest (transaction, validation) of the same calls.
        const starts = starter.startMs.slice(from);
        if (starts.length !== total.length) return;
        result.stages[`${label}: workflow.start`] = summarize(starts);
        result.stages[`${label}: admission transaction + validation`] = summarize(total.map((t, i) => t - (starts[i] ?? 0)));
      };
      if (name === IN_PROCESS) splitStarts(`${name}, ${connections} clients`, startsBefore, samples[name] ?? []);
      // What a rung started finishes before the next measurement, so that it does not load it.
      await drain();
      const sequentialFrom = starter.startMs.length;
      const one = await load(sequential, 1);
      result.latency[`${name}, 1 client`] = summarize(one);
      if (name === IN_PROCESS) splitStarts(`${name}, 1 client`, sequentialFrom, one);
      await drain();
    }

    const p50 = (name: string) => result.latency[name]?.p50 ?? Number.NaN;
    const post = result.latency[POST];
    const ratio = p50(POST) / p50(FLOOR);
    result.targets.push(
      { name: 'start p99', target: 'p99 ≤ 50 ms', measured: fmtMs(post?.p99 ?? Number.NaN), met: (post?.p99 ?? Infinity) <= 50 },
      {
        name: 'start p50 vs workflow.start',
        target: 'p50 ≤ 1.5 × floor',
        measured: `${ratio.toFixed(2)}× (${fmtMs(p50(POST))} vs ${fmtMs(p50(FLOOR))})`,
        met: ratio <= 1.5,
      },
    );
    result.values[`p50 ratio POST / workflow.start, ${connections} clients`] = round(ratio);
    result.values['p50 ratio POST / workflow.start, 1 client'] = round(p50(`${POST}, 1 client`) / p50(`${FLOOR}, 1 client`));
    // Service time (one client): what each rung adds.
    const rung = (name: string) => p50(`${name}, 1 client`);
    result.values['1 client p50 ms: workflow.start'] = rung(FLOOR);
    result.values['1 client p50 ms added: search attributes + memo on the start'] = round(rung(START_AS_API) - rung(FLOOR));
    result.values['1 client p50 ms: HTTP + auth (GET /v1/account)'] = rung(AUTH);
    result.values['1 client p50 ms: RunStarter.start without HTTP'] = rung(IN_PROCESS);
    result.values['1 client p50 ms added by HTTP, auth, routing over RunStarter.start'] = round(rung(POST) - rung(IN_PROCESS));
    // Little's law on the closed loop (autocannon's own clock rounds to whole seconds).
    for (const name of [FLOOR, POST]) {
      result.values[`${name}: requests per second at ${connections} clients`] = round((connections / (result.latency[name]?.mean ?? Number.NaN)) * 1000);
    }
    result.notes.push(
      `with ${connections} clients in a closed loop, latency ≈ ${connections} / throughput: p50 ≤ 50 ms needs about ${connections * 20} admissions per second`,
      'admitted runs execute (demo/echo, 4 tokens, no delay) while later requests are measured, as they would in production; runs and floor workflows are drained before the next measurement',
      `"${ONE_ACCOUNT}" (${oneAccountRequests} requests): every admission locks the same account row, so admissions of one account are serialized`,
    );
    result.chart = {
      title: `Start latency (${requests} requests, ${connections} concurrent clients)`,
      targetMs: 50,
      series: Object.entries(samples).map(([label, s]) => chartSeries(label, s)),
    };
    return result;
  },
};

const round = (v: number) => Math.round(v * 100) / 100;
