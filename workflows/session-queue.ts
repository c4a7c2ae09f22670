import { deprecatePatch, getExternalWorkflowHandle, log, workflowInfo } from '@temporalio/workflow';
import { stopSignal, turnSignal } from './definitions';
import { PATCHES } from './patches';
import type { Multitask, SessionCarry, SessionState } from './types';

/** Requests handled before the history is handed to a fresh execution (continue-as-new). */
const REQUESTS_PER_HISTORY = 200;
const FINISHED_REMEMBERED = 100;

/**
 * A session's requests: the queue in admission order, the one that has the turn, the ones being
 * stopped, and the `request.completed` publications in completion order. The workflow wires its
 * messages to these methods; `changes` wakes its main loop exactly when something changed.
 */
export class SessionQueue {
  changes = 0;
  private handled = 0;
  private readonly stopping = new Set<string>();
  /** The last `request.completed` publication: each waits for the one before it. */
  private published: Promise<void> = Promise.resolve();

  constructor(
    readonly s: SessionCarry,
    private readonly multitask: Multitask,
  ) {}

  state(): SessionState {
    return { active: this.s.active, queued: this.s.queue.map((q) => q.runId), closing: this.s.closing, multitask: this.multitask };
  }

  /** A request's credits are reserved: it joins the queue in admission order (a closing session stops it). */
  ready(runId: string, seq: number): void {
    this.changes++;
    const { s } = this;
    if (s.active === runId || s.finished.includes(runId) || s.queue.some((q) => q.runId === runId)) return;
    if (s.closing) {
      void this.stop(runId, 'session closed');
      return;
    }
    const at = s.queue.findIndex((q) => q.seq > seq);
    s.queue.splice(at === -1 ? s.queue.length : at, 0, { runId, seq });
  }

  /** A request ended: its turn is over, and `request.completed` goes out once, in completion order. */
  async finished(runId: string, publish: () => Promise<void>): Promise<void> {
    this.changes++;
    const { s } = this;
    if (s.active === runId) s.active = null;
    s.queue = s.queue.filter((q) => q.runId !== runId);
    this.stopping.delete(runId);
    if (s.finished.includes(runId)) return;
    s.finished = [...s.finished, runId].slice(-FINISHED_REMEMBERED);
    this.handled++;
    deprecatePatch(PATCHES.orderedCompletions);
    const mine = this.published.then(publish);
    // A publication that failed for good is logged once, here; the next ones still go out.
    this.published = mine.catch((err: unknown) => log.error('request.completed not published', { runId, error: String(err) }));
    await this.published;
  }

  close(): void {
    this.changes++;
    this.s.closing = true;
  }

  /** Every publication so far has been written (or given up on). */
  allPublished(): Promise<void> {
    return this.published;
  }

  /**
   * One step of the main loop: in interrupt mode stops what the newest request overrides, and
   * grants the next turn when none is active. Returns whether a turn was granted.
   */
  async advance(turn: { workspacePath: string | null; taskQueue: string | null }): Promise<boolean> {
    const { s } = this;
    // In interrupt mode the newest request wins: the running one and older waiting ones stop.
    const newest = s.queue[s.queue.length - 1];
    if (this.multitask === 'interrupt' && newest) {
      if (s.active) void this.stop(s.active, 'interrupted by a newer request');
      for (const q of s.queue) if (q !== newest) void this.stop(q.runId, 'interrupted by a newer request');
    }
    // A request being stopped gets no turn: it is about to report itself finished.
    const next = s.queue.find((q) => !this.stopping.has(q.runId));
    if (s.active !== null || !next) return false;
    s.queue = s.queue.filter((q) => q !== next);
    s.active = next.runId;
    await getExternalWorkflowHandle(next.runId)
      .signal(turnSignal, turn)
      .catch((err: unknown) => {
        log.warn('turn not delivered; the run is gone', { runId: next.runId, error: String(err) });
        s.active = null;
      });
    return true;
  }

  /** Idle, with a history long enough to hand over to a fresh execution. */
  shouldContinueAsNew(): boolean {
    const { s } = this;
    return s.active === null && s.queue.length === 0 && (this.handled >= REQUESTS_PER_HISTORY || workflowInfo().continueAsNewSuggested);
  }

  idle(): boolean {
    return this.s.active === null && this.s.queue.length === 0;
  }

  /** Stops the running request and every queued one (each is charged for what it used and refunded the rest). */
  async stopAll(reason: string): Promise<void> {
    for (const runId of [this.s.active, ...this.s.queue.map((q) => q.runId)]) {
      if (runId) await this.stop(runId, reason);
    }
  }

  private async stop(runId: string, reason: string): Promise<void> {
    if (this.stopping.has(runId)) return;
    this.stopping.add(runId);
    // A run that has ended already cannot be reached, and needs no stop.
    await getExternalWorkflowHandle(runId)
      .signal(stopSignal, { reason })
      .catch((err: unknown) => log.info('stop not delivered', { runId, error: String(err) }));
  }
}
