import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { Db } from '../../src/db/database';
import { OutputBatcher, type BatchOptions } from '../../src/streams/output-batcher';
import { RunOutputWriter } from '../../src/streams/run-output-writer';
import { wallClockMs } from '../lib/clock';
import { finishFixtureRun } from '../lib/fixtures';
import type { EmitDeltasInput } from './definitions';

/** A delta's text: `<token index>@<wall-clock ms when it was handed to the writer>`, space-separated. */
export function stampedToken(index: number): string {
  return `${index}@${wallClockMs()} `;
}

export function createBenchActivities(deps: { db: Db }) {
  // As the execute activity does: one batcher per worker process, shared by every run it writes
  // (one per batching setting here, since a bench pass may try another window).
  const batchers = new Map<string, OutputBatcher>();
  const batcherFor = (options: BatchOptions) => {
    const key = `${options.maxDelayMs}/${options.maxBatch}`;
    let batcher = batchers.get(key);
    if (!batcher) batchers.set(key, (batcher = new OutputBatcher(deps.db, options)));
    return batcher;
  };

  return {
    async noop(): Promise<void> {},

    /** A no-op that heartbeats once first: what the immediate beat of a step costs. */
    async noopHeartbeat(): Promise<void> {
      Context.current().heartbeat();
    },

    /**
     * The execute activity's output path (RunOutputWriter on the worker's shared OutputBatcher:
     * batching window, one transaction per window for all runs, NOTIFY) fed by a clock instead of
     * a model, so that each token carries its emission time. Tokens follow a fixed schedule from
     * the start, so a late timer does not slow the rate down.
     */
    async emitDeltas(input: EmitDeltasInput): Promise<void> {
      const writer = new RunOutputWriter(deps.db, input.runId, input.writer, batcherFor(input.writer));
      await writer.begin(1, { inputTokens: 0, outputTokens: 0 });
      const untilStart = (input.startAtMs ?? 0) - wallClockMs();
      if (untilStart > 0) await sleep(untilStart);
      const start = performance.now();
      for (let i = 0; i < input.tokens; i++) {
        const wait = start + i * input.intervalMs - performance.now();
        if (wait > 0) await sleep(wait);
        writer.delta(stampedToken(i));
      }
      await writer.close();
      await finishFixtureRun(deps.db, input.runId);
    },
  };
}

export type BenchActivities = ReturnType<typeof createBenchActivities>;
