import { sql } from 'kysely';
import { loadConfig } from '../../src/config';
import { DEFAULT_BATCH } from '../../src/streams/output-batcher';
import { newResult, fmtMs, type Bench, type BenchContext } from '../lib/bench';
import { runPool } from '../lib/concurrency';
import { wallClockMs } from '../lib/clock';
import { CpuMeter } from '../lib/cpu-meter';
import { createBenchAccount, insertRunningRuns } from '../lib/fixtures';
import { chartSeries } from '../lib/results';
import { openEventStream, type EventStreamClient } from '../lib/sse-client';
import { summarize } from '../lib/stats';
import { EMIT_DELTAS_WORKFLOW, type EmitDeltasInput } from '../worker/definitions';

/** Time given to 200 emitter workflows to start and reach their activity before the first token. */
const EMITTERS_SETTLE_MS = 8_000;


interface Pass {
  intervalMs: number;
  tokens: number;
  writer: { maxDelayMs: number; maxBatch: number };
}

interface TokenSample {
  runId: string;
  index: number;
  eventId: number;
  emittedMs: number;
  receivedMs: number;
}

/**
 * Emission to SSE delivery. Activities on the bench worker feed the platform's RunOutputWriter on
 * one shared OutputBatcher (the execute activity's own output path: batching window, one
 * transaction per window for all runs, NOTIFY) with tokens whose text is the wall-clock time they
 * were handed to the writer; 200 clients follow 200 runs through the real API and subtract that
 * stamp from the arrival time of the chunk that carried them. The event's `created_at` (its
 * transaction's start) splits the time into "waiting in the batch" and "write, commit, NOTIFY,
 * fan-out, socket".
 */
export const eventLatencyBench: Bench = {
  name: 'events',
  title: 'Event latency: delta emitted → SSE client',
  needs: { benchWorker: true },
  async run({ stack, smoke, log }: BenchContext) {
    const streams = smoke ? 20 : 200;
    // A token every 50 ms a stream is demo/echo's default pace (200 streams: 4,000 tokens/s). The
    // what-if passes change only the batching window, to show what the window itself costs.
    // The batching the execute activity uses: the worker's RUNWAY_EVENT_BATCH_MS window (src/config.ts).
    const shipped = { maxDelayMs: loadConfig().eventBatchMs, maxBatch: DEFAULT_BATCH.maxBatch };
    const whatIf = [50, 5].filter((ms) => ms !== shipped.maxDelayMs).map((maxDelayMs) => ({ ...shipped, maxDelayMs }));
    const passes: Pass[] = smoke
      ? [{ intervalMs: 20, tokens: 20, writer: shipped }]
      : [shipped, ...whatIf].map((writer) => ({ intervalMs: 50, tokens: 100, writer }));
    const result = newResult(eventLatencyBench, smoke, { streams, passes: passes.map((p) => `${p.tokens}×${p.intervalMs}ms/${p.writer.maxDelayMs}ms`).join(', ') });
    const account = await createBenchAccount(stack.db, 'events');
    const chart: ReturnType<typeof chartSeries>[] = [];

    for (const { intervalMs, tokens, writer } of passes) {
      const label = `1 token/${intervalMs} ms a stream, window ${writer.maxDelayMs} ms`;
      log(`events: ${streams} streams × ${tokens} tokens, ${label}`);
      const runIds = await insertRunningRuns(stack.db, account.id, streams);
      const samples: TokenSample[] = [];
      const problems: string[] = [];
      const clients: EventStreamClient[] = [];
      try {
        await runPool(runIds.length, 50, async (i) => {
          const runId = runIds[i] as string;
          let expected = 0;
          const client = await openEventStream({
            url: `${stack.api.baseUrl}/v1/runs/${runId}/events`,
            apiKey: account.apiKey,
            onEvent: (event) => {
              if (event.type !== 'delta' || event.id === null) return;
              const { text } = JSON.parse(event.data) as { text: string };
              for (const token of text.trim().split(/\s+/)) {
                const [index, stamp] = token.split('@').map(Number);
                if (index !== expected++) problems.push(`${runId}: token ${index} arrived when ${expected - 1} was due`);
                samples.push({ runId, index: index ?? -1, eventId: event.id, emittedMs: stamp ?? Number.NaN, receivedMs: event.wallMs });
              }
            },
          });
          if (client.status !== 200) throw new Error(`GET events of ${runId} answered ${client.status}`);
          clients.push(client);
        });
        const meter = new CpuMeter(stack.processes);
        await meter.start();
        // Streams begin once their workflows have started (the server's work for 200 simultaneous
        // starts, ≈ 27 CPU ms each, takes seconds of both cores and is not what this measures),
        // their phases spread over one token interval: a steady 4,000 tokens/s, not 200 at once.
        const startAtMs = wallClockMs() + (smoke ? 1_000 : EMITTERS_SETTLE_MS);
        await Promise.all(
          runIds.map((runId, i) => {
            const phase = Math.round((i * intervalMs) / runIds.length);
            const input: EmitDeltasInput = { runId, tokens, intervalMs, writer, startAtMs: startAtMs + phase };
            return stack.temporal.workflow.start(EMIT_DELTAS_WORKFLOW, { taskQueue: stack.benchTaskQueue, workflowId: `emit-${runId}`, args: [input] });
          }),
        );
        const deadline = tokens * intervalMs + 60_000;
        await Promise.race([
          Promise.all(clients.map((c) => c.done)),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`streams did not end within ${deadline} ms`)), deadline).unref()),
        ]);
        result.cpu[label] = await meter.stop();
      } finally {
        for (const c of clients) c.close();
      }
      if (clients.some((c) => !c.ended)) problems.push('a stream was closed before its end event');
      if (samples.length !== streams * tokens) problems.push(`received ${samples.length} of ${streams * tokens} tokens`);
      if (problems.length) throw new Error(`event streams were not complete and in order: ${problems.slice(0, 5).join('; ')}`);

      // created_at is now() of the writer's transaction: when the batch left the writer.
      const rows = await stack.db
        .selectFrom('run_events')
        .select(['run_id', 'id', sql<number>`(extract(epoch from created_at) * 1000)::float8`.as('created_ms')])
        .where('run_id', 'in', runIds)
        .where('type', '=', 'delta')
        .execute();
      const createdAt = new Map(rows.map((r) => [`${r.run_id}:${r.id}`, r.created_ms]));
      const latencies = samples.map((s) => s.receivedMs - s.emittedMs);
      const inBatch = samples.map((s) => (createdAt.get(`${s.runId}:${s.eventId}`) ?? Number.NaN) - s.emittedMs);
      const delivery = samples.map((s) => s.receivedMs - (createdAt.get(`${s.runId}:${s.eventId}`) ?? Number.NaN));
      result.latency[`emitted → received, ${label}`] = summarize(latencies);
      // The middle of the streams apart: their first second (every stream's first write) and
      // last (200 activities and workflows completing on the same two cores) weigh on the tail.
      const edge = Math.round(1000 / intervalMs);
      if (tokens > 4 * edge) {
        const steady = samples.filter((s) => s.index >= edge && s.index < tokens - edge).map((s) => s.receivedMs - s.emittedMs);
        result.latency[`emitted → received, ${label}, steady (tokens ${edge}…${tokens - edge - 1})`] = summarize(steady);
      }
      result.stages[`${label}: emitted → batch written (batch window)`] = summarize(inBatch);
      result.stages[`${label}: batch written → received (commit, NOTIFY, fan-out, socket)`] = summarize(delivery);
      result.values[`${label}: delta events per token`] = Math.round((new Set(samples.map((s) => `${s.runId}:${s.eventId}`)).size / samples.length) * 100) / 100;
      result.values[`${label}: tokens per second, all streams`] = Math.round((streams * 1000) / intervalMs);
      chart.push(chartSeries(`emitted → received, ${label}`, latencies));
      const summary = result.latency[`emitted → received, ${label}`];
      result.targets.push({
        name: `event latency (${label}${writer === shipped ? '' : ', what-if'})`,
        target: 'p99 ≤ 50 ms',
        measured: fmtMs(summary?.p99 ?? Number.NaN),
        met: (summary?.p99 ?? Infinity) <= 50,
      });
    }
    result.notes.push(
      'emission = the moment the activity hands a token to RunOutputWriter.delta(); reception = arrival of the chunk carrying it at the client; both wall clock, same machine',
      "the worker's batcher opens a window at the first delta of any run and writes it after maxDelayMs (sooner once a run has maxBatch deltas waiting): a token waits from 0 to the whole window",
      `the ${streams} emitter workflows are started together and the streams begin ${smoke ? 1_000 : EMITTERS_SETTLE_MS} ms later, once the server has processed the starts, their phases spread evenly over one token interval`,
    );
    result.chart = { title: `Event latency (${streams} concurrent streams)`, targetMs: 50, series: chart };
    return result;
  },
};
