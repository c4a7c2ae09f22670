import type { Transaction } from 'kysely';
import type { Db } from '../db/database';
import type { Database } from '../db/schema';
import { appendEvents, runStream } from '../db/run-events';
import { appendLogTruncated } from '../db/run-logs';
import { liveOutputs, setRunAttempt } from '../db/run-output';
import type { Usage } from '../pricing';
import { truncate } from '../text';
import { DEFAULT_BATCH, OutputBatcher, type BatchOptions } from './output-batcher';

/**
 * Writes one execution attempt's output through the worker's shared `OutputBatcher`: deltas reach
 * the run's `output` and its event log at most one batch window late, with the usage so far, so
 * that a stop or a crash is charged for what was used.
 */
export class RunOutputWriter {
  /** The run's usage before this attempt (an agent run's earlier turns), and this attempt's own. */
  private base: Usage = { inputTokens: 0, outputTokens: 0 };
  private turn: Usage = { inputTokens: 0, outputTokens: 0 };

  constructor(
    private readonly db: Db,
    private readonly runId: string,
    options: BatchOptions = DEFAULT_BATCH,
    private readonly batcher: OutputBatcher = new OutputBatcher(db, options),
  ) {}

  /**
   * Starts an attempt from nothing, on top of `base` (the usage of an agent run's finished
   * turns; zero for a plain run). When an earlier attempt left output, a `reset` event tells
   * clients to drop it: the run's output is the last attempt's text.
   */
  async begin(attempt: number, base: Usage, first?: (trx: Transaction<Database>) => Promise<void>): Promise<void> {
    this.base = base;
    this.turn = { inputTokens: 0, outputTokens: 0 };
    await this.db.transaction().execute(async (trx) => {
      // What the attempt begins with (an agent turn's step), in the same transaction.
      await first?.(trx);
      await setRunAttempt(trx, this.runId, attempt, base);
      // Only a retry can find an earlier attempt's output.
      if (attempt > 1 && (await liveOutputs(trx, [this.runId])).get(this.runId)) {
        await appendEvents(trx, runStream(this.runId), [{ type: 'reset', data: { attempt, reason: 'retry' } }]);
      }
    });
  }

  /** The run's usage so far, as its row records it. */
  private get total(): Usage {
    return { inputTokens: this.base.inputTokens + this.turn.inputTokens, outputTokens: this.base.outputTokens + this.turn.outputTokens };
  }

  delta(text: string): void {
    this.turn = { ...this.turn, outputTokens: this.turn.outputTokens + 1 };
    this.batcher.delta(this.runId, text, this.total);
  }

  /** A line a CLI agent wrote; persisted as a `log` event, batched with the deltas. */
  log(stream: 'stdout' | 'stderr', line: string): void {
    this.batcher.log(this.runId, stream, truncate(line, 8192), this.total);
  }

  /**
   * The provider accepted the call: from now on its input is billable even if the stream is cut
   * before the provider reports usage. A call refused up front costs nothing.
   */
  acceptInput(inputTokens: number): void {
    if (this.turn.inputTokens > 0) return;
    this.turn = { ...this.turn, inputTokens };
    this.batcher.usage(this.runId, this.total);
  }

  /** Provider-reported usage replaces this attempt's running count. */
  setUsage(usage: Usage): void {
    this.turn = usage;
    this.batcher.usage(this.runId, this.total);
  }

  /** This attempt's input tokens. */
  get inputTokens(): number {
    return this.turn.inputTokens;
  }

  /** This attempt's output tokens (what its cap counts). */
  get outputTokens(): number {
    return this.turn.outputTokens;
  }

  /**
   * Waits until everything written so far is committed; rethrows a failed write. A log cut at
   * its bound during this attempt gets its one marker, after its last stored line.
   */
  async close(): Promise<void> {
    try {
      await this.batcher.flush(this.runId);
    } catch (err) {
      this.batcher.takeDropped(this.runId);
      throw err;
    }
    const dropped = this.batcher.takeDropped(this.runId);
    if (dropped) await appendLogTruncated(this.db, this.runId, dropped);
  }
}
