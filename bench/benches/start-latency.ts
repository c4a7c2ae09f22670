import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { fmtMs, newResult, type Bench, type BenchContext } from '../lib/bench';
import { clearFloorRows, insertAdmissionRows } from '../lib/admission-floor';
import { createRun, echoRunBody } from '../lib/api-client';
import { runPool, timed } from '../lib/concurrency';
import { CpuMeter } from '../lib/cpu-meter';
import { waitForRunsToDrain } from '../lib/drain';
import { createBenchAccount, type BenchAccount } from '../lib/fixtures';
import { httpLoad } from '../lib/http-load';
import { chartSeries } from '../lib/results';
import { summarize } from '../lib/stats';
import { createDb, createPool } from '../../src/db/database';

/** Sends `count` requests with `clients` concurrent clients; resolves with each one's latency (ms). */
type Load = (count: number, clients: number) => Promise<number[]>;

const FLOOR = 'admission rows in one transaction (floor, no HTTP)';
const POST = 'POST /v1/runs';
const ONE_ACCOUNT = 'POST /v1/runs, all on one account';
const BURST = 'burst: POST /v1/runs';

/**
 * POST /v1/runs → 202 under load. The reply needs PostgreSQL only (one admission statement; the
 * workflow is started after the commit), so the floor is the same rows written in one
 * transaction at the same concurrency, from the bench process. Then: a burst well above the
 * default caps, and the queue wait (202 → running) at steady offered loads, while the admitted
 * runs execute on the same machine.
 */
export const startLatencyBench: Bench = {
  name: 'start',
  title: 'Start latency: POST /v1/runs → 202',
  needs: { platformWorkerDelayMs: 0 },
  async run({ stack, smoke, log }: BenchContext) {
    const requests = smoke ? 16 : 2000;
    const sequential = smoke ? 3 : 200;
    const connections = smoke ? 4 : 32;
    const warmup = smoke ? 2 : 100;
    const burst = smoke ? { requests: 16, clients: 8 } : { requests: 1000, clients: 64 };
    const offered = smoke ? [{ rate: 5, seconds: 1 }] : [{ rate: 10, seconds: 30 }, { rate: 20, seconds: 30 }];
    const result = newResult(startLatencyBench, smoke, {
      requests,
      connections,
      singleClientRequests: sequential,
      warmup,
      burst: `${burst.requests} from ${burst.clients} clients`,
      offered: offered.map((o) => `${o.rate}/s for ${o.seconds} s`).join(', '),
      demoDelayMs: 0,
      tokens: 4,
    });
    const accounts = await Promise.all(Array.from({ length: connections }, (_, i) => createBenchAccount(stack.db, `start-${i}`)));
    const single = await createBenchAccount(stack.db, 'start-single');
    const samples: Record<string, number[]> = {};
    // The API's own pool size (src/bootstrap.ts), so that the floor has the same connections.
    const floorPool = createPool(stack.databaseUrl, 10);
    const floorDb = createDb(floorPool);

    const http =
      (owners: BenchAccount[], status = 202): Load =>
      async (amount, clients) => {
        const res = await httpLoad({
          url: `${stack.api.baseUrl}/v1/runs`,
          method: 'POST',
          headersPerConnection: owners.map((a) => ({ authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json' })),
          body: JSON.stringify(echoRunBody(4)),
          amount,
          connections: clients,
        });
        if ((res.statuses[status] ?? 0) !== res.latencies.length || res.errors > 0 || res.timeouts > 0) {
          throw new Error(`POST /v1/runs: ${JSON.stringify(res.statuses)}, ${res.errors} errors, ${res.timeouts} timeouts`);
        }
        return res.latencies;
      };
    const floor: Load = async (count, clients) => {
      const latencies: number[] = [];
      let next = 0;
      await runPool(count, clients, async () => {
        const account = accounts[next++ % accounts.length] as BenchAccount;
        latencies.push((await timed(() => insertAdmissionRows(floorDb, account.id, 20))).ms);
      });
      return latencies;
    };

    const rungs: [string, Load][] = [
      [FLOOR, floor],
      [POST, http(accounts)],
      [ONE_ACCOUNT, http([single])],
    ];
    try {
      for (const [name, load] of rungs) {
        log(`start: ${name}`);
        await load(warmup, connections);
        await waitForRunsToDrain(stack.db, undefined, log);
        const meter = new CpuMeter(stack.processes);
        await meter.start();
        samples[name] = await load(requests, connections);
        result.cpu[name] = await meter.stop();
        result.latency[name] = summarize(samples[name] ?? []);
        // What a rung admitted runs before the next measurement, so that it does not load it.
        await waitForRunsToDrain(stack.db, undefined, log);
        result.latency[`${name}, 1 client`] = summarize(await load(sequential, 1));
        await waitForRunsToDrain(stack.db, undefined, log);
      }
    } finally {
      await clearFloorRows(floorDb);
      await floorPool.end();
    }

    log(`start: burst of ${burst.requests} from ${burst.clients} clients`);
    samples[BURST] = await http(accounts)(burst.requests, burst.clients);
    result.latency[`${BURST} (${burst.requests} from ${burst.clients} clients)`] = summarize(samples[BURST]);
    await waitForRunsToDrain(stack.db, undefined, log);

    for (const { rate, seconds } of offered) {
      log(`start: queue wait at ${rate} runs/s for ${seconds} s`);
      const waits = await queueWait(stack, accounts, rate, seconds);
      result.latency[`queue wait 202 → running at ${rate} runs/s`] = summarize(waits);
    }

    const latency = (name: string) => result.latency[name];
    const p = (name: string, q: 'p50' | 'p99') => latency(name)?.[q] ?? Number.NaN;
    const ratio = p(POST, 'p50') / p(FLOOR, 'p50');
    const wait10 = p(`queue wait 202 → running at ${offered[0]?.rate} runs/s`, 'p99');
    result.targets.push(
      { name: `POST p99, ${connections} clients`, target: 'p99 ≤ 100 ms', measured: fmtMs(p(POST, 'p99')), met: p(POST, 'p99') <= 100 },
      { name: `POST p50, ${connections} clients`, target: 'p50 ≤ 25 ms', measured: fmtMs(p(POST, 'p50')), met: p(POST, 'p50') <= 25 },
      { name: 'POST p99, one account', target: 'p99 ≤ 150 ms', measured: fmtMs(p(ONE_ACCOUNT, 'p99')), met: p(ONE_ACCOUNT, 'p99') <= 150 },
      { name: 'POST p50 vs floor', target: 'p50 ≤ 1.5 × floor', measured: `${ratio.toFixed(2)}× (${fmtMs(p(POST, 'p50'))} vs ${fmtMs(p(FLOOR, 'p50'))})`, met: ratio <= 1.5 },
      { name: 'POST p50, 1 client', target: 'p50 ≤ 15 ms', measured: fmtMs(p(`${POST}, 1 client`, 'p50')), met: p(`${POST}, 1 client`, 'p50') <= 15 },
      { name: `burst ${burst.requests} from ${burst.clients} clients`, target: 'all 202, no 5xx', measured: `${samples[BURST]?.length ?? 0} × 202`, met: samples[BURST]?.length === burst.requests },
      { name: `queue wait p99 at ${offered[0]?.rate} runs/s`, target: 'p99 ≤ 1 s', measured: fmtMs(wait10), met: wait10 <= 1000 },
    );
    result.values[`p50 ratio POST / floor, ${connections} clients`] = round(ratio);
    for (const name of [FLOOR, POST, ONE_ACCOUNT]) {
      result.values[`${name}: requests per second at ${connections} clients`] = round((connections / (latency(name)?.mean ?? Number.NaN)) * 1000);
    }
    result.notes.push(
      'the reply needs PostgreSQL only: one admission statement (runway_admit), the workflow started after the commit by the API (a few at a time) or the outbox relay',
      'admitted runs execute (demo/echo, 4 tokens, no delay) while later requests are measured, as they would in production; they are drained before the next measurement',
      `"${ONE_ACCOUNT}": every admission locks the same account row, so admissions of one account are serialized inside PostgreSQL`,
      'queue wait: POSTs sent at a steady rate (open loop) for the given time; the wait is the run row’s started_at − created_at (both PostgreSQL’s clock)',
    );
    result.chart = {
      title: `Start latency (${requests} requests, ${connections} concurrent clients)`,
      targetMs: 100,
      series: Object.entries(samples).map(([label, s]) => chartSeries(label, s)),
    };
    return result;
  },
};

/** Offers `rate` POSTs a second for `seconds` (not waiting for replies), then waits for every run to start. */
async function queueWait(stack: BenchContext['stack'], accounts: BenchAccount[], rate: number, seconds: number): Promise<number[]> {
  const ids: Promise<string>[] = [];
  const began = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = began + (i * 1000) / rate;
    const ahead = due - performance.now();
    if (ahead > 0) await sleep(ahead);
    const account = accounts[i % accounts.length] as BenchAccount;
    ids.push(createRun(stack.api.baseUrl, account.apiKey, echoRunBody(4)));
  }
  const runIds = await Promise.all(ids);
  await waitForRunsToDrain(stack.db);
  const { rows } = await sql<{ ms: number }>`
    SELECT extract(epoch from started_at - created_at) * 1000 AS ms FROM runs WHERE id = ANY(${runIds}) AND started_at IS NOT NULL`.execute(stack.db);
  return rows.map((r) => Number(r.ms));
}

const round = (v: number) => Math.round(v * 100) / 100;
