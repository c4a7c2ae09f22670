import type { Client } from '@temporalio/client';
import type { Config, StartSettings } from '../config';
import type { Db } from '../db/database';
import { countSettlement } from '../metrics/metrics';
import { claimDueRunStarts, deleteRunStarts, endUnstartedRun, postponeRunStart } from '../db/run-starts';
import type { Logger } from '../logger';
import { Outbox, type OutboxStore } from '../outbox/outbox';
import { startWorkflowOnce } from '../outbox/start-once';
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

/** One start may take this long (the client retries an unavailable server within it). */
const START_TIMEOUT_MS = 5_000;

const NOT_STARTED = {
  code: 'not_started',
  message: 'the workflow service could not start this run in time; nothing was executed and the reservation was refunded',
};

/**
 * Starts admitted runs' workflows after their admission committed, through the `run_starts`
 * outbox (src/outbox). The admitting API process starts its own runs at once, a few at a time (a
 * burst waits in the outbox, not in the Temporal server); the relay, in every API and worker
 * process, starts whatever is due in the outbox: runs whose API died after the commit, or that
 * could not be started while Temporal was down. The run id is the workflow id, so a start made
 * twice is harmless. A run not started before its deadline ends failed and refunded.
 */
export class RunLauncher {
  private readonly outbox: Outbox<RunStart>;

  constructor(private readonly deps: RunLauncherDeps) {
    this.outbox = new Outbox({
      store: runStartStore(deps),
      start: (start) => this.start(start),
      describe: ({ input }) => ({ runId: input.runId }),
      settings: deps.settings,
      logger: deps.logger,
    });
  }

  /** How long a run admitted here is left to this process before a relay may start it. */
  get graceMs(): number {
    return this.deps.settings.graceMs;
  }

  /** After the admission's commit: starts the run soon; what this process does not start in time, a relay does. */
  launchSoon(start: RunStart): void {
    this.outbox.startSoon(start, this.deps.settings.graceMs);
  }

  /**
   * Starts the run now and tells its session (a session hears of its requests in admission
   * order, so a client's sequential follow-ups are awaited one by one). False when it could not
   * be started: the relay starts it when Temporal answers again.
   */
  launchNow(start: RunStart): Promise<boolean> {
    return this.outbox.startNow(start);
  }

  /**
   * Relays the outbox every `pollMs` until closed. A claim holds at most one request of a session
   * (the earliest not started), so a session's requests are started in admission order, one pass after another.
   */
  startRelay(): void {
    this.outbox.startRelay();
  }

  close(): Promise<void> {
    return this.outbox.close();
  }

  /** Starts the workflow, and tells its session when this call created it. */
  private async start({ input, model, prompt }: RunStart): Promise<void> {
    const created = await startWorkflowOnce<typeof runWorkflow>(
      this.deps.temporal,
      RUN_WORKFLOW_TYPE,
      {
        workflowId: input.runId,
        taskQueue: this.deps.taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: RUNWAY_ACCOUNT, value: input.accountId },
          { key: RUNWAY_STATUS, value: 'queued' },
          ...(input.user ? [{ key: RUNWAY_USER, value: input.user }] : []),
        ],
        memo: { model, prompt: truncate(prompt, 80) },
        staticSummary: `${model} run for ${input.accountId}`,
      },
      START_TIMEOUT_MS,
    );
    if (!created || !input.sessionId) return;
    await this.deps.temporal.workflow
      .getHandle(input.sessionId)
      .signal(requestReadySignal, { runId: input.runId, seq: input.seq })
      .catch((err: unknown) => this.deps.logger.warn({ err, runId: input.runId }, 'requestReady not delivered; the run tells its session itself within 10 s'));
  }
}

/** The `run_starts` table as an outbox: an entry is deleted once its run's workflow exists. */
function runStartStore(deps: RunLauncherDeps): OutboxStore<RunStart> {
  return {
    claim: async (limit, leaseMs) =>
      (await claimDueRunStarts(deps.db, limit, leaseMs)).map(({ run, sealedSecrets, attempts }) => ({
        item: runStartOf(run, sealedSecrets),
        attempts,
        since: run.created_at,
      })),
    started: (starts) => deleteRunStarts(deps.db, starts.map(({ input }) => input.runId)),
    postpone: ({ input }, delayMs, reason) => postponeRunStart(deps.db, input.runId, delayMs, reason),
    expire: async ({ input }) => {
      const ended = await endUnstartedRun(deps.db, input.runId, 'failed', NOT_STARTED);
      if (ended && ended.settledNow) countSettlement('failed', ended);
    },
  };
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
