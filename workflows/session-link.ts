import { CancellationScope, CancelledFailure, condition, getExternalWorkflowHandle, log } from '@temporalio/workflow';
import { requestFinishedSignal, requestReadySignal } from './definitions';
import type { RunTracker } from './run-tracker';
import type { RunError, TerminalStatus, TurnGrant } from './types';

/**
 * How long a session request waits for its turn before telling the session itself that it is
 * ready. The API tells the session before replying; this covers an API process that died between
 * admission and that signal. Telling it at once, as well, made the run's signal contend with the
 * API's (and the session's turn) for the session's lock in the server (see the changelog).
 */
const ANNOUNCE_FALLBACK = '10 seconds';
/** While it waits, a session request asks again now and then: a session that is gone ends it. */
const REANNOUNCE_EVERY = '10 minutes';
/** The error of a session request whose session ended before its turn. */
const SESSION_GONE: RunError = { code: 'session_closed', message: 'the session ended before this request got its turn' };

/** A session request's side of its session: asking for a turn, getting it, saying it finished. */
export class SessionLink {
  private turn: TurnGrant | undefined;
  private readonly session;

  constructor(
    private readonly runId: string,
    private readonly sessionId: string,
    /** The request's admission order, by which the session queues it. */
    private readonly seq: number,
  ) {
    this.session = getExternalWorkflowHandle(sessionId);
  }

  grant(turn: TurnGrant): void {
    this.turn = turn;
  }

  /** Waits for the session to grant this request its turn (cancelled by a stop). */
  async awaitTurn(run: RunTracker): Promise<TurnGrant> {
    if (!(await condition(() => this.turn !== undefined, ANNOUNCE_FALLBACK))) await this.announceUntilGranted(run);
    return this.turn as TurnGrant;
  }

  async finished(status: TerminalStatus): Promise<void> {
    await this.tell(() => this.session.signal(requestFinishedSignal, { runId: this.runId, status }));
  }

  /** Asks for a turn until one comes; a session that can no longer be reached ends the request. */
  private async announceUntilGranted(run: RunTracker): Promise<void> {
    for (;;) {
      if (!(await this.announce())) {
        run.stoppedBy(SESSION_GONE);
        throw new CancelledFailure('the session has ended');
      }
      if (await condition(() => this.turn !== undefined, REANNOUNCE_EVERY)) return;
    }
  }

  private announce(): Promise<boolean> {
    return this.tell(() => this.session.signal(requestReadySignal, { runId: this.runId, seq: this.seq }));
  }

  /** Whether the session got the message: a session that has ended cannot. */
  private tell(notify: () => Promise<void>): Promise<boolean> {
    return CancellationScope.nonCancellable(() =>
      notify().then(
        () => true,
        (err: unknown) => {
          log.warn('session not reached', { runId: this.runId, sessionId: this.sessionId, error: String(err) });
          return false;
        },
      ),
    );
  }
}
