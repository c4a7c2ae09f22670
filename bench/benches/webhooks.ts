import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { temporal } from '@temporalio/proto';
import { Webhook } from 'standardwebhooks';
import { fmtMs, newResult, type Bench, type BenchContext } from '../lib/bench';
import { createRun, echoRunBody } from '../lib/api-client';
import { CpuMeter } from '../lib/cpu-meter';
import { createBenchAccount } from '../lib/fixtures';
import { chartSeries } from '../lib/results';
import { summarize } from '../lib/stats';
import { wallClockMs } from '../lib/clock';

const WORDS = 5;
const CONCURRENCY = 10;

interface Arrival {
  deliveryId: string;
  runId: string;
  wallMs: number;
  verified: boolean;
}

function eventMs(event: temporal.api.history.v1.IHistoryEvent | undefined): number {
  const t = event?.eventTime;
  if (!t) return Number.NaN;
  const seconds = typeof t.seconds === 'number' ? t.seconds : (t.seconds?.toNumber() ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

/**
 * A run's end (its settle, `completed_at`) → its completion webhook at a local receiver, for
 * short demo runs kept `CONCURRENCY` at a time. The receiver verifies every signature with the
 * `standardwebhooks` package. Delivery workflow histories split the delay: settle commit →
 * workflow started (NOTIFY, dispatcher, start RPC), then → arrival (workflow task, attempt
 * activity, DNS-checked HTTP POST).
 */
export const webhooksBench: Bench = {
  name: 'webhooks',
  title: 'Webhook delay: run ended → signed webhook received',
  needs: { platformWorkerDelayMs: 0 },
  async run({ stack, smoke, log }: BenchContext) {
    const runs = smoke ? 10 : 200;
    const result = newResult(webhooksBench, smoke, { runs, concurrency: CONCURRENCY, words: WORDS });
    const account = await createBenchAccount(stack.db, 'webhooks');
    const arrivals = new Map<string, Arrival>();
    let secret = '';
    let notify: () => void = () => undefined;
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const wallMs = wallClockMs();
        const body = Buffer.concat(chunks).toString('utf8');
        let verified = true;
        try {
          new Webhook(secret).verify(body, req.headers as Record<string, string>);
        } catch {
          verified = false;
        }
        const runId = (JSON.parse(body) as { data: { id: string } }).data.id;
        const deliveryId = String(req.headers['webhook-id']);
        if (!arrivals.has(runId)) arrivals.set(runId, { deliveryId, runId, wallMs, verified });
        res.end();
        notify();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const created = await fetch(`${stack.api.baseUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url, events: ['run.succeeded'] }),
    });
    const hook = (await created.json()) as { id: string; secret: string };
    if (created.status !== 201) throw new Error(`POST /v1/webhooks answered ${created.status}: ${JSON.stringify(hook)}`);
    secret = hook.secret;

    const meter = new CpuMeter(stack.processes);
    await meter.start();
    const runIds: string[] = [];
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < runs) {
            next++;
            const runId = await createRun(stack.api.baseUrl, account.apiKey, echoRunBody(WORDS));
            runIds.push(runId);
            const deadline = Date.now() + 60_000;
            while (!arrivals.has(runId)) {
              if (Date.now() > deadline) throw new Error(`no webhook for ${runId} within 60 s`);
              await new Promise<void>((resolve) => {
                notify = resolve;
                setTimeout(resolve, 50);
              });
            }
          }
        }),
      );
      log(`webhooks: ${arrivals.size} webhooks received for ${runs} runs`);
    } finally {
      result.cpu['webhook runs'] = await meter.stop();
      await fetch(`${stack.api.baseUrl}/v1/webhooks/${hook.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${account.apiKey}` } });
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }

    const rows = await stack.db.selectFrom('runs').select(['id', 'completed_at']).where('account_id', '=', account.id).execute();
    const endedAt = new Map(rows.map((r) => [r.id, r.completed_at?.getTime() ?? Number.NaN]));
    const delays: number[] = [];
    const toStarted: number[] = [];
    const startedToArrival: number[] = [];
    for (const runId of runIds) {
      const a = arrivals.get(runId);
      const ended = endedAt.get(runId) ?? Number.NaN;
      if (!a) continue;
      delays.push(a.wallMs - ended);
      const history = await stack.temporal.workflow.getHandle(a.deliveryId).fetchHistory();
      const started = eventMs(history.events?.[0]);
      toStarted.push(started - ended);
      startedToArrival.push(a.wallMs - started);
    }
    const unverified = [...arrivals.values()].filter((a) => !a.verified).length;
    result.latency['run ended (settle) → webhook received'] = summarize(delays);
    result.stages['run ended → delivery workflow started (NOTIFY, dispatcher, start)'] = summarize(toStarted.filter(Number.isFinite));
    result.stages['workflow started → webhook received (workflow task, attempt activity, POST)'] = summarize(startedToArrival.filter(Number.isFinite));
    result.values['webhooks received'] = arrivals.size;
    result.values['signatures not verified'] = unverified;
    const p99 = result.latency['run ended (settle) → webhook received']?.p99 ?? Infinity;
    result.targets.push({ name: 'webhook delay', target: 'p99 ≤ 1 s', measured: fmtMs(p99), met: p99 <= 1000 });
    result.targets.push({ name: 'signatures', target: 'all verify', measured: `${unverified} failed`, met: unverified === 0 && arrivals.size === runs });
    result.notes.push(
      `${runs} demo/echo runs of ${WORDS} tokens, ${CONCURRENCY} in flight at once, one endpoint on a local receiver (RUNWAY_WEBHOOK_ALLOW_PRIVATE=true)`,
      'run end = its completed_at, set by the settle transaction that also creates the delivery; arrival = the receiver\'s clock (same machine)',
    );
    result.chart = { title: `Webhook delay (${delays.length} runs)`, targetMs: 1000, series: [chartSeries('run ended → webhook', delays)] };
    return result;
  },
};
