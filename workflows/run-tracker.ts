import { CancellationScope, log, upsertSearchAttributes } from '@temporalio/workflow';
import { RUNWAY_STATUS, shownStatus } from './run-vocabulary';
import { STOPPED_ERROR, type ProgressReport, type RunError, type RunState, type RunStatus, type RunStep } from './types';

/**
 * What the run shows (its `status` query and the `RunwayStatus` search attribute) and whether it
 * is being stopped. A stop cancels `work`, the scope the run's cancellable steps run in.
 */
export class RunTracker {
  readonly state: RunState = { status: 'queued', step: 'reserve', progress: null, attempt: 1 };
  readonly work = new CancellationScope();
  stopRequested = false;
  /** Why the run is stopped when the stop did not come from a client. */
  stopError: RunError = STOPPED_ERROR;

  enter(status: RunStatus, step: RunStep): void {
    this.state.step = step;
    this.state.progress = null;
    this.state.attempt = 1;
    // Once a stop is asked for, the run reads `stopping` until it reaches its terminal status.
    const shown = shownStatus(this.stopRequested ? 'stopping' : this.state.status, status);
    if (shown !== this.state.status) this.show(shown);
  }

  /** A stop from a client or the session; too late once the run is settling. */
  stop(): void {
    const { step } = this.state;
    if (this.stopRequested || step === 'settle' || step === 'cleanup' || step === 'done') return;
    this.stopRequested = true;
    this.show('stopping');
    this.work.cancel();
  }

  /** The run ends as stopped for a reason of its own (the worker heard the stop, the session is gone). */
  stoppedBy(error: RunError = STOPPED_ERROR): void {
    this.stopRequested = true;
    this.stopError = error;
  }

  progress(report: ProgressReport): void {
    if (report.step !== this.state.step) return;
    this.state.attempt = report.attempt;
    if (report.progress !== undefined) this.state.progress = report.progress;
  }

  private show(status: RunStatus): void {
    this.state.status = status;
    upsertSearchAttributes([{ key: RUNWAY_STATUS, value: status }]);
  }
}

/** A saga's compensation stack: the latest first, each out of reach of cancellation's failure. */
export class Compensations {
  private readonly stack: (() => Promise<void>)[] = [];

  push(compensation: () => Promise<void>): void {
    this.stack.unshift(compensation);
  }

  /**
   * A compensation that cannot finish (its host is gone, its retries are spent) must not keep the
   * refund from happening; the cleanup step records what it left behind.
   */
  async runAll(runId: string, describe: (err: unknown) => unknown): Promise<void> {
    for (const compensate of this.stack) {
      await compensate().catch((err: unknown) => log.error('compensation failed; settling anyway', { runId, error: describe(err) }));
    }
  }
}
