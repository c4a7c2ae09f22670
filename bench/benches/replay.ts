import { fmtMs, newResult, type Bench, type BenchContext } from '../lib/bench';
import { timed } from '../lib/concurrency';
import { createBenchAccount, insertRunWithEvents } from '../lib/fixtures';
import { chartSeries } from '../lib/results';
import { openEventStream } from '../lib/sse-client';
import { summarize } from '../lib/stats';
import { listRunEvents } from '../../src/db/run-events';

const EVENTS = 10_000;
/** The events endpoint's replay page size (src/api/routes/events.ts). */
const PAGE = 2000;

/** One reconnection: request sent → first event, → last event; every id checked to be there once, in order. */
async function replayOnce(url: string, apiKey: string, lastId: number): Promise<{ firstMs: number; allMs: number }> {
  const sent = performance.now();
  let firstAt = Number.NaN;
  let lastAt = Number.NaN;
  let expected = 1;
  let broken: string | undefined;
  let complete: () => void = () => undefined;
  const gotAll = new Promise<void>((resolve) => (complete = resolve));
  const client = await openEventStream({
    url,
    apiKey,
    onEvent: (e) => {
      if (e.id === null) return;
      if (e.id !== expected) broken ??= `event ${e.id} arrived when ${expected} was due`;
      expected++;
      if (e.id === 1) firstAt = e.monoMs;
      if (e.id === lastId) {
        lastAt = e.monoMs;
        complete();
      }
    },
  });
  if (client.status !== 200) throw new Error(`GET events answered ${client.status}`);
  // A finished run's stream ends after the replay; a running one's stays open for live events.
  await Promise.race([gotAll, client.done]);
  client.close();
  if (broken) throw new Error(`replay out of order: ${broken}`);
  if (expected - 1 !== lastId) throw new Error(`replay delivered ${expected - 1} of ${lastId} events`);
  return { firstMs: firstAt - sent, allMs: lastAt - sent };
}

/**
 * A client reconnecting to runs with 10,000 persisted events: a finished run (replay, then the
 * server closes) and a running one (subscribe, replay, then live), from the first event.
 */
export const replayBench: Bench = {
  name: 'replay',
  title: 'Replay: reconnect to a run with 10,000 events',
  needs: {},
  async run({ stack, smoke, log }: BenchContext) {
    const repeats = smoke ? 3 : 20;
    const result = newResult(replayBench, smoke, { events: EVENTS, repeats });
    const account = await createBenchAccount(stack.db, 'replay');
    const finished = await insertRunWithEvents(stack.db, account.id, EVENTS);
    const running = await insertRunWithEvents(stack.db, account.id, EVENTS, { running: true });
    const chart: ReturnType<typeof chartSeries>[] = [];
    try {
      for (const [label, runId] of [
        ['finished run', finished],
        ['running run', running],
      ] as const) {
        log(`replay: ${repeats} reconnections to a ${label} with ${EVENTS} events`);
        const url = `${stack.api.baseUrl}/v1/runs/${runId}/events`;
        const once = () => replayOnce(url, account.apiKey, EVENTS);
        await once(); // warm-up: first use of the replay query and code path
        const first: number[] = [];
        const all: number[] = [];
        for (let i = 0; i < repeats; i++) {
          const r = await once();
          first.push(r.firstMs);
          all.push(r.allMs);
        }
        result.latency[`${label}: all ${EVENTS} events`] = summarize(all);
        result.stages[`${label}: request → first event`] = summarize(first);
        chart.push(chartSeries(`${label}, all events`, all));
        const p99 = result.latency[`${label}: all ${EVENTS} events`]?.p99 ?? Infinity;
        result.targets.push({ name: `replay, ${label}`, target: 'all 10,000 in ≤ 300 ms (p99)', measured: fmtMs(p99), met: p99 <= 300 });
      }
      // The database's share: the same page queries the endpoint makes, from the bench process.
      const reads: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const { ms } = await timed(async () => {
          for (let after = 0; after < EVENTS; after += PAGE) await listRunEvents(stack.db, finished, after, PAGE);
        });
        reads.push(ms);
      }
      result.stages[`database: ${EVENTS / PAGE} page reads of ${PAGE} events`] = summarize(reads);
    } finally {
      await stack.db.updateTable('runs').set({ status: 'succeeded', step: 'done' }).where('id', '=', running).execute();
    }
    result.notes.push('each reconnection is a new connection without Last-Event-ID, so it replays from event 1; the client parses every event');
    result.chart = { title: `Replay of ${EVENTS} events (${repeats} reconnections)`, targetMs: 300, series: chart };
    return result;
  },
};
