import { setTimeout as sleep } from 'node:timers/promises';
import { newResult, type Bench, type BenchContext } from '../lib/bench';
import { runPool } from '../lib/concurrency';
import { createBenchAccount, insertRunningRuns } from '../lib/fixtures';
import { collectGarbageAndMeasure, type ProbedMemory } from '../lib/gc-probe';
import { residentKb } from '../lib/proc-stats';
import { slope } from '../lib/regression';
import { openEventStream, type EventStreamClient } from '../lib/sse-client';

const KB = 1024;

/**
 * API process memory with idle event streams: each client follows a run of its own that is
 * running but silent, so every connection holds a socket, an SSE writer, a subscription and that
 * run's reader, and nothing else happens. Connections are added in steps; at each step the API
 * runs a full GC (preloaded probe) and reports its memory, and the cost per connection is the
 * least-squares slope over the connection count. RSS (the target's measure) is read from /proc.
 */
export const memoryBench: Bench = {
  name: 'memory',
  title: 'Memory: API RSS per idle SSE connection',
  needs: {},
  async run({ stack, smoke, log }: BenchContext) {
    const connections = smoke ? 100 : 1000;
    const steps = smoke ? [0, 50, 100] : [0, 200, 400, 600, 800, 1000];
    const warmup = smoke ? 20 : 100;
    const settleMs = smoke ? 200 : 1000;
    const result = newResult(memoryBench, smoke, { connections, steps: steps.join(','), warmupConnections: warmup });
    const pid = stack.api.child.pid;
    if (!pid) throw new Error('the API process has no pid');
    const account = await createBenchAccount(stack.db, 'memory');
    const runIds = await insertRunningRuns(stack.db, account.id, connections + warmup);
    const clients: EventStreamClient[] = [];
    const open = async (ids: string[], into: EventStreamClient[]) => {
      await runPool(ids.length, 50, async (i) => {
        const client = await openEventStream({ url: `${stack.api.baseUrl}/v1/runs/${ids[i]}/events`, apiKey: account.apiKey, onEvent: () => undefined });
        into.push(client);
        if (client.status !== 200) throw new Error(`GET events answered ${client.status}`);
      });
    };
    const measure = async (): Promise<ProbedMemory & { procRssKb: number }> => {
      await sleep(settleMs);
      const probed = await collectGarbageAndMeasure(stack.api);
      await sleep(settleMs); // RSS after the collection has returned what it will
      return { ...probed, procRssKb: residentKb(pid).rssKb };
    };
    try {
      log(`memory: warming up the event stream path with ${warmup} connections`);
      const warm: EventStreamClient[] = [];
      await open(runIds.slice(connections), warm);
      for (const c of warm) c.close();
      const rss: [number, number][] = [];
      const heap: [number, number][] = [];
      for (const step of steps) {
        await open(runIds.slice(clients.length, step), clients);
        const m = await measure();
        log(`memory: ${step} idle streams, API RSS ${m.procRssKb} KB, heap used ${Math.round(m.heapUsed / KB)} KB after GC`);
        rss.push([step, m.procRssKb]);
        heap.push([step, (m.heapUsed + m.external) / KB]);
        result.values[`RSS KB at ${step} connections`] = m.procRssKb;
        result.values[`heap used + external KB at ${step} connections`] = Math.round((m.heapUsed + m.external) / KB);
      }
      const closedEarly = clients.filter((c) => c.ended).length;
      if (closedEarly > 0) throw new Error(`${closedEarly} idle streams were closed by the server`);
      for (const c of clients) c.close();
      const after = await measure();
      result.values['RSS KB after closing them'] = after.procRssKb;
      result.values['heap used + external KB after closing them'] = Math.round((after.heapUsed + after.external) / KB);

      const perConnection = slope(rss);
      result.values['RSS KB per connection (slope)'] = round(perConnection);
      result.values['JS heap + external KB per connection (slope)'] = round(slope(heap));
      result.targets.push({
        name: 'memory per idle SSE connection',
        target: '≤ 64 KB above baseline',
        measured: `${perConnection.toFixed(1)} KB`,
        met: perConnection <= 64,
      });
      result.notes.push(
        'each step: a full GC in the API (preloaded probe, SIGUSR2), then RSS from /proc/<api pid>/status; per connection = least-squares slope over the connection count',
        "each connection follows a distinct running, silent run: it holds a socket, an SSE writer, a subscription and that run's reader",
        'kernel socket buffers are not part of RSS',
      );
    } finally {
      for (const c of clients) c.close();
      // The fixture runs are not real runs: end them so that nothing looks active afterwards.
      await stack.db.updateTable('runs').set({ status: 'succeeded', step: 'done' }).where('id', 'in', runIds).execute();
    }
    return result;
  },
};

const round = (v: number) => Math.round(v * 10) / 10;
