import { context, type Context } from '@opentelemetry/api';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Config, StartSettings } from '../config';
import type { Db } from '../db/database';
import { countSettlement } from '../metrics/metrics';
import { claimDueRunStarts, deleteRunStarts, endUnstartedRun, postponeRunStart, type ClaimedRunStart } from '../db/run-starts';
import type { Logger } from '../logger';
import { truncate } from '../text';
import { requestReadySignal, RUN_WORKFLOW_TYPE } from '../../workflows/definitions';
import type { runWorkflow } from '../../workflows/run-workflow';
import { RUNWAY_ACCOUNT, RUNWAY_STATUS, RUNWAY_USER } from '../../workflows/types';
import { runStartOf, type RunStart } from './run-input';

export interface RunLauncherDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  settings: StartSettings;
}

/** Entries a relay takes at once, and how long it holds them. */
const CLAIM_BATCH = 100;
const LEASE_MS = 30_000;
/** One start may take this long (the client retries an unavailable server within it). */
const START_TIMEOUT_MS = 5_000;
/** After a start failed for the server's sake, this process sends none for a while. */
const BACKOFF_MS = 2_000;
const MAX_RETRY_DELAY_MS = 60_000;
/** The most runs one API process keeps waiting in memory; the relay starts any beyond. */
const MAX_WAITING = 10_000;
/** Started runs' entries are deleted together, every so often. */
const DELETE_EVERY_MS = 50;

const NOT_STARTED = {
  code: 'not_started',
  message: 'the workflow service could not start this run in time; nothing was executed and the reservation was refunded',
};

/**
 * Starts admitted runs' workflows after their admission committed. The admitting API process
 * starts its own runs at once, a few at a time (a burst waits in the outbox, not in the Temporal
 * server); the relay, in every API and worker process, starts whatever is due in the outbox:
 * runs whose API died after the commit, or that could not be started while Temporal was down.
 * The run id is the workflow id, so a start made twice is harmless.
 */
export class RunLauncher {
  private inFlight = 0;
  private readonly launching = new Set<Promise<string | null>>();
  /** `trace`: the admitting request's context, so that a start made later is still part of its trace. */
  private readonly waiting: { start: RunStart; since: number; trace: Context }[] = [];
  private readonly slotFreed: (() => void)[] = [];
  private pausedUntil = 0;
  private started: string[] = [];
  private deleteTimer: NodeJS.Timeout | undefined;
  private relayTimer: NodeJS.Timeout | undefined;
  private relaying: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: RunLauncherDeps) {}

  /** How long a run admitted here is left to this process before a relay may start it. */
  get graceMs(): number {
    return this.deps.settings.graceMs;
  }

  /** After the admission's commit: starts the run soon; what this process does not start in time, a relay does. */
  launchSoon(start: RunStart): void {
    if (this.closed || this.waiting.length >= MAX_WAITING) return;
    this.waiting.push({ start, since: Date.now(), trace: context.active() });
    this.pump();
  }

  /**
   * Starts the run now and tells its session (a session hears of its requests in admission
   * order, so a client's sequential follow-ups are awaited one by one). False when it could not
   * be started: the relay starts it when Temporal answers again.
   */
  async launchNow(start: RunStart): Promise<boolean> {
    if (this.closed || Date.now() < this.pausedUntil) return false;
    await this.slot();
    try {
      return (await this.launch(start)) === null;
    } finally {
      this.release();
    }
  }

  /** Polls the outbox every `pollMs` until closed. */
  startRelay(): void {
    const tick = () => {
      this.relaying = this.relayOnce()
        .catch((err: unknown) => this.deps.logger.warn({ err }, 'outbox relay pass failed; trying again'))
        .finally(() => {
          if (!this.closed) this.relayTimer = setTimeout(tick, this.deps.settings.pollMs);
        });
    };
    this.relayTimer = setTimeout(tick, this.deps.settings.pollMs);
  }

  /**
   * One relay pass: every due entry. A claim holds at most one request of a session (the earliest
   * not started), so a session's requests are started in admission order, one pass after another.
   */
  async relayOnce(): Promise<void> {
    const claimed = await claimDueRunStarts(this.deps.db, CLAIM_BATCH, LEASE_MS);
    await Promise.all(claimed.map((entry) => this.relayEntry(entry)));
    await this.flushDeletes();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.relayTimer);
    await this.relaying;
    // A start still retrying inside the client would call a closed connection from its timer.
    await Promise.allSettled([...this.launching]);
    await this.flushDeletes();
  }

  private async relayEntry({ run, sealedSecrets, attempts }: ClaimedRunStart): Promise<void> {
    if (Date.now() - run.created_at.getTime() > this.deps.settings.deadlineMs) {
      const ended = await endUnstartedRun(this.deps.db, run.id, 'failed', NOT_STARTED);
      if (ended && ended.settledNow) {
        countSettlement('failed', ended);
        this.deps.logger.error({ runId: run.id }, 'run not started before its deadline; ended failed and refunded');
      }
      return;
    }
    await this.slot();
    try {
      const failure = await this.launch(runStartOf(run, sealedSecrets));
      if (failure !== null) {
        await postponeRunStart(this.deps.db, run.id, Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** Math.min(attempts, 6)), failure);
      }
    } finally {
      this.release();
    }
  }

  /** Drains what this process admitted, `inFlight` at a time; entries the relay may have taken by now are left to it. */
  private pump(): void {
    while (this.inFlight < this.deps.settings.inFlight && this.waiting.length > 0) {
      const next = this.waiting.shift() as { start: RunStart; since: number; trace: Context };
      if (Date.now() - next.since >= this.deps.settings.graceMs || Date.now() < this.pausedUntil) continue;
      this.inFlight += 1;
      // Pumped from whichever call freed a slot: the start belongs to its own request's trace.
      const launched = context.with(next.trace, () => this.launch(next.start)).finally(() => {
        this.launching.delete(launched);
        this.release();
      });
      this.launching.add(launched);
    }
  }

  private async slot(): Promise<void> {
    while (this.inFlight >= this.deps.settings.inFlight) {
      await new Promise<void>((resolve) => this.slotFreed.push(resolve));
    }
    this.inFlight += 1;
  }

  private release(): void {
    this.inFlight -= 1;
    const waiter = this.slotFreed.shift();
    if (waiter) waiter();
    else this.pump();
  }

  /** Starts the workflow (and tells its session): null once it exists, else why not. Never throws. */
  private async launch(start: RunStart): Promise<string | null> {
    const { input } = start;
    try {
      const created = await this.startWorkflow(start);
      if (created && input.sessionId) {
        await this.deps.temporal.workflow
          .getHandle(input.sessionId)
          .signal(requestReadySignal, { runId: input.runId, seq: input.seq })
          .catch((err: unknown) =>
            this.deps.logger.warn({ err, runId: input.runId }, 'requestReady not delivered; the run tells its session itself within 10 s'),
          );
      }
      this.forget(input.runId);
      return null;
    } catch (err) {
      // Said once per outage (the relay keeps trying every entry), not once per run.
      const level = Date.now() < this.pausedUntil ? 'debug' : 'warn';
      this.pausedUntil = Date.now() + BACKOFF_MS;
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.deps.logger[level]({ runId: input.runId, reason }, 'workflow not started; the outbox relay tries again');
      return reason;
    }
  }

  /** True when this call created the workflow; false when it existed already (a start made twice). */
  private async startWorkflow({ input, model, prompt }: RunStart): Promise<boolean> {
    try {
      await this.deps.temporal.withDeadline(Date.now() + START_TIMEOUT_MS, () =>
        this.deps.temporal.workflow.start<typeof runWorkflow>(RUN_WORKFLOW_TYPE, {
          workflowId: input.runId,
          taskQueue: this.deps.taskQueue,
          args: [input],
          // Started twice (the API and a relay): the second start joins the first while it runs
          // and is refused once it has closed; never a second execution of one run.
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: RUNWAY_ACCOUNT, value: input.accountId },
            { key: RUNWAY_STATUS, value: 'queued' },
            ...(input.user ? [{ key: RUNWAY_USER, value: input.user }] : []),
          ],
          memo: { model, prompt: truncate(prompt, 80) },
          staticSummary: `${model} run for ${input.accountId}`,
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
      throw err;
    }
  }

  /** Its entry (and sealed secrets) can go: deleted with others shortly. */
  private forget(runId: string): void {
    this.started.push(runId);
    this.deleteTimer ??= setTimeout(() => void this.flushDeletes(), DELETE_EVERY_MS);
  }

  private async flushDeletes(): Promise<void> {
    clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    const ids = this.started;
    this.started = [];
    await deleteRunStarts(this.deps.db, ids).catch((err: unknown) => {
      // Left in the outbox: a relay starts them again, harmlessly, and deletes them then.
      this.deps.logger.warn({ err, count: ids.length }, 'started runs not removed from the outbox');
    });
  }
}

/** The run launcher of a process with this configuration (API or worker). */
export function launcherFor(base: { config: Config; db: Db; temporal: Client; logger: Logger }): RunLauncher {
  return new RunLauncher({
    db: base.db,
    temporal: base.temporal,
    logger: base.logger,
    taskQueue: base.config.temporal.taskQueue,
    settings: base.config.starts,
  });
}
