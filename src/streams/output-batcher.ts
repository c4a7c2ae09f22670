import { metrics } from '../metrics/metrics';
import type { Db } from '../db/database';
import { isRefusedStatement } from '../db/errors';
import { advanceRunHeads, insertRunEventRows, notifyRunEventPayloads } from '../db/output-batch';
import { addDropped, addLogBytes, fitLogs, lockLogBudgets, logLineBytes, type DroppedLogs, type LogLine } from '../db/run-logs';
import { DEFAULT_LOG_LIMITS, type LogLimits } from '../config';
import { InlineNotices } from '../db/notify-wire';
import { createLogger, type Logger } from '../logger';
import type { Usage } from '../pricing';
import { sanitize } from '../text';

export interface BatchOptions {
  /** Longest time a delta waits before it is written and published. */
  maxDelayMs: number;
  /** Deltas of one run that force a write before the delay is up. */
  maxBatch: number;
  /** Bounds of stored log lines (deltas are not logs); absent: DEFAULT_LOG_LIMITS. */
  logLimits?: LogLimits;
}

/**
 * 20 ms: across-run coalescing keeps the commit rate at one per window per worker whatever the
 * number of runs, so the window can be short enough for a 50 ms delivery target (see bench/).
 */
export const DEFAULT_BATCH: BatchOptions = { maxDelayMs: 20, maxBatch: 64 };

interface PendingRun {
  text: string;
  logs: { stream: 'stdout' | 'stderr'; line: string }[];
  usage: Usage;
  deltas: number;
}

interface Generation {
  done: Promise<void>;
  resolve: () => void;
}

function generation(): Generation {
  let resolve!: () => void;
  const done = new Promise<void>((res) => (resolve = res));
  return { done, resolve };
}

/** Token counts go to int columns: a provider reporting 1e12, 1.5 or NaN must not fail the batch. */
const MAX_TOKENS = 2 ** 31 - 1;
const tokenCount = (n: number) => (Number.isFinite(n) ? Math.min(MAX_TOKENS, Math.max(0, Math.round(n))) : 0);

let fallbackLogger: Logger | undefined;

/**
 * Writes the output of every run a worker executes, coalesced: whatever all runs produced in one
 * window goes to PostgreSQL in one transaction of three statements (output and usage of every
 * run, their new events with gapless ids, one NOTIFY each). Per-run transactions would cost a
 * commit per run per window — 200 streaming runs are 4,000 commits a second, and NOTIFY
 * serialises commits — so latency would grow without bound under load.
 */
export class OutputBatcher {
  private pending = new Map<string, PendingRun>();
  private current = generation();
  private timer: NodeJS.Timeout | undefined;
  /** A write is in flight: what arrives meanwhile waits for it and goes in the next one. */
  private inFlight = false;
  private cutWhenDone = false;
  /**
   * Runs whose output a failed write lost; their writer learns it when it flushes, and until then
   * nothing more of theirs is written (their attempt fails and starts over after a `reset`).
   */
  private readonly failures = new Map<string, unknown>();
  /**
   * Runs whose log reached a bound, with what was dropped so far: nothing more of their log is
   * sent, and their writer reports the total once when it closes (`takeDropped`).
   */
  private readonly dropped = new Map<string, DroppedLogs>();

  constructor(
    private readonly db: Db,
    private readonly options: BatchOptions = DEFAULT_BATCH,
    private readonly logger?: Logger,
  ) {}

  delta(runId: string, text: string, usage: Usage): void {
    const run = this.runOf(runId, usage);
    if (!run) return;
    run.text += text;
    run.deltas++;
    this.schedule(run.deltas >= this.options.maxBatch);
  }

  log(runId: string, stream: 'stdout' | 'stderr', line: string, usage: Usage): void {
    const run = this.runOf(runId, usage);
    if (!run) return;
    const cut = this.dropped.get(runId);
    if (cut) {
      this.dropped.set(runId, addDropped(cut, { ...cut, lines: 1, bytes: logLineBytes({ stream, line }) }));
      return;
    }
    run.logs.push({ stream, line });
    run.deltas++;
    this.schedule(run.deltas >= this.options.maxBatch);
  }

  usage(runId: string, usage: Usage): void {
    if (this.runOf(runId, usage)) this.schedule(false);
  }

  /** Resolves once everything given so far is committed; rejects if a write lost this run's output. */
  async flush(runId: string): Promise<void> {
    const { done } = this.current;
    this.schedule(true);
    await done;
    if (this.failures.has(runId)) {
      const failure = this.failures.get(runId);
      this.failures.delete(runId);
      throw failure;
    }
  }

  get logLimits(): LogLimits {
    return this.options.logLimits ?? DEFAULT_LOG_LIMITS;
  }

  /** What the run's log bounds dropped since the last call (null: nothing); forgets it. */
  takeDropped(runId: string): DroppedLogs | null {
    const cut = this.dropped.get(runId);
    this.dropped.delete(runId);
    return cut ?? null;
  }

  /** The run's open batch entry; undefined while its output is known to be lost. */
  private runOf(runId: string, usage: Usage): PendingRun | undefined {
    if (this.failures.has(runId)) return undefined;
    let run = this.pending.get(runId);
    if (!run) {
      run = { text: '', logs: [], usage, deltas: 0 };
      this.pending.set(runId, run);
    }
    run.usage = { inputTokens: tokenCount(usage.inputTokens), outputTokens: tokenCount(usage.outputTokens) };
    return run;
  }

  private schedule(now: boolean): void {
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.cut();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.cut();
      }, this.options.maxDelayMs);
    }
  }

  /**
   * Closes the open batch and writes it. While a write is in flight no new batch is closed: the
   * open one keeps growing and is written the moment the previous commit lands. A short window
   * thus costs nothing under load, where a queue of one transaction per window would back up.
   */
  private cut(): void {
    if (this.inFlight) {
      this.cutWhenDone = true;
      return;
    }
    const batch = this.pending;
    const gen = this.current;
    this.pending = new Map();
    this.current = generation();
    if (batch.size === 0) {
      gen.resolve();
      return;
    }
    this.inFlight = true;
    void this.write(batch)
      .then((failed) => {
        for (const [runId, err] of failed) {
          this.failures.set(runId, err);
          this.pending.delete(runId); // what came meanwhile would follow a hole
        }
        if (failed.size > 0) {
          const logger = this.logger ?? (fallbackLogger ??= createLogger('output-batcher', process.env.RUNWAY_LOG_LEVEL ?? 'info'));
          logger.error({ err: failed.values().next().value, runIds: [...failed.keys()] }, 'run output could not be written; those attempts fail and start over');
        }
      })
      .finally(() => {
        gen.resolve();
        this.inFlight = false;
        if (this.cutWhenDone) {
          this.cutWhenDone = false;
          this.cut();
        }
      });
  }

  /**
   * Writes a batch; resolves to the runs whose output it lost. When the server refuses the batch
   * for its data, each run is written alone, so that a row one run cannot store costs that run
   * its output and not every run of the window. Ids stay gapless (a refused transaction takes
   * its ids back) and nothing is written twice (nothing of the refused batch was committed).
   */
  private async write(batch: Map<string, PendingRun>): Promise<Map<string, unknown>> {
    const runs = [...batch.entries()];
    try {
      metrics.eventsWritten.inc(this.noteCuts(await this.commit(runs)));
      return new Map();
    } catch (err) {
      if (runs.length === 1 || !isRefusedStatement(err)) return new Map(runs.map(([runId]) => [runId, err]));
    }
    const failed = new Map<string, unknown>();
    for (const run of runs) {
      await this.commit([run]).then((done) => metrics.eventsWritten.inc(this.noteCuts(done)), (err: unknown) => failed.set(run[0], err));
    }
    return failed;
  }

  /** Runs a committed batch cut at a log bound send no more log lines; returns the events written. */
  private noteCuts(done: { written: number; cuts: Map<string, DroppedLogs> }): number {
    for (const [runId, cut] of done.cuts) {
      const before = this.dropped.get(runId);
      let total = before ? addDropped(before, cut) : cut;
      // Lines queued while this batch was written come after the cut: dropped as well.
      for (const l of this.pending.get(runId)?.logs.splice(0) ?? []) total = addDropped(total, { ...total, lines: 1, bytes: logLineBytes(l) });
      this.dropped.set(runId, total);
    }
    return done.written;
  }

  /**
   * Writes and announces the runs' events in one transaction; resolves to the events written and
   * the log lines each run's bounds cut. Only a window with log lines (a CLI agent's) reads and
   * counts log bytes: model deltas cost nothing more.
   */
  private async commit(runs: [string, PendingRun][]): Promise<{ written: number; cuts: Map<string, DroppedLogs> }> {
    return this.db.transaction().execute(async (trx) => {
      const withLogs = runs.filter(([, r]) => r.logs.length > 0);
      const kept = new Map<string, LogLine[]>();
      const cuts = new Map<string, DroppedLogs>();
      const stored: { runId: string; accountId: string; bytes: number }[] = [];
      if (withLogs.length > 0) {
        const budgets = await lockLogBudgets(trx, withLogs.map(([id]) => id));
        for (const [runId, run] of withLogs) {
          const budget = budgets.get(runId);
          if (!budget) continue; // no such run: advanceRunHeads skips it too
          const fit = fitLogs(run.logs, budget, this.logLimits);
          kept.set(runId, fit.kept);
          stored.push({ runId, accountId: budget.accountId, bytes: fit.keptBytes });
          if (fit.dropped) cuts.set(runId, fit.dropped);
        }
      }
      const logsOf = (runId: string, run: PendingRun) => kept.get(runId) ?? run.logs;
      const eventsOf = ([runId, r]: [string, PendingRun]) => logsOf(runId, r).length + (r.text ? 1 : 0);
      const heads = await advanceRunHeads(trx, {
        ids: runs.map(([id]) => id),
        inputTokens: runs.map(([, r]) => r.usage.inputTokens),
        outputTokens: runs.map(([, r]) => r.usage.outputTokens),
        eventCounts: runs.map(eventsOf),
      });
      const lastIds = new Map(heads.map((h) => [h.id, Number(h.last_event_id)]));
      const rows: { run_id: string; id: number; type: string; data: string }[] = [];
      const notices = new InlineNotices();
      for (const [runId, run] of runs) {
        const last = lastIds.get(runId);
        const count = eventsOf([runId, run]);
        if (last === undefined || count === 0) continue;
        let id = last - count + 1;
        const first = rows.length;
        // Logs first: a CLI agent's stderr usually explains the output that follows it. Keys in
        // jsonb's order, so that live (inline) and replayed events serialize alike.
        // Sanitized here, on the whole text of the window: a pair split across two deltas survives.
        for (const l of logsOf(runId, run)) rows.push({ run_id: runId, id: id++, type: 'log', data: JSON.stringify({ line: sanitize(l.line), stream: l.stream }) });
        if (run.text) rows.push({ run_id: runId, id: id++, type: 'delta', data: JSON.stringify({ text: sanitize(run.text) }) });
        notices.add(runId, last, rows.slice(first));
      }
      if (rows.length > 0) await insertRunEventRows(trx, rows);
      await addLogBytes(trx, stored);
      const payloads = notices.payloads();
      if (payloads.length > 0) {
        await notifyRunEventPayloads(trx, payloads);
      }
      return { written: rows.length, cuts };
    });
  }
}
