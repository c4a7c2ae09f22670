/**
 * What the run and session domain can refuse, as plain errors. They carry facts, not HTTP:
 * src/api/domain-problems.ts is the one place that turns them into problem+json.
 */

/** Base class, so the edge can tell a refusal from a bug with one instanceof. */
export abstract class DomainError extends Error {}

export type AdmissionRefusal =
  | 'insufficient-credits'
  | 'too-many-active-runs'
  | 'too-many-active-runs-for-user'
  | 'session-busy'
  | 'session-closed'
  | 'token-budget-exceeded'
  | 'user-budget-exceeded';

/** Admission said no; nothing is reserved. */
export class AdmissionRefused extends DomainError {
  override name = 'AdmissionRefused';
  constructor(
    readonly reason: AdmissionRefusal,
    readonly detail: string,
    readonly estimate: number,
    readonly balance: number,
  ) {
    super(detail);
  }
}

/** No provider or no price is configured for the model. */
export class UnknownModel extends DomainError {
  override name = 'UnknownModel';
  constructor(readonly model: string) {
    super(`no provider or price is configured for model "${model}"`);
  }
}

/** The run has already ended, so it cannot be stopped. */
export class RunEnded extends DomainError {
  override name = 'RunEnded';
  constructor(readonly status?: string) {
    super(status ? `the run has already ended (${status})` : 'the run has already ended');
  }
}

/** An Idempotency-Key came back with another request body. */
export class IdempotencyKeyReused extends DomainError {
  override name = 'IdempotencyKeyReused';
  constructor() {
    super('this Idempotency-Key was already used with a different request body');
  }
}

/** The key named a run that retention has purged: its id cannot be admitted again. */
export class IdempotencyKeyExpired extends DomainError {
  override name = 'IdempotencyKeyExpired';
  constructor() {
    super('the run this Idempotency-Key created was purged by retention; use a new key');
  }
}

/** Unknown, or another account's: the two are deliberately indistinguishable. */
export class NotFound extends DomainError {
  override name = 'NotFound';
  constructor(readonly kind: string) {
    super(`no such ${kind}`);
  }
}

/** Temporal could not be reached for what needs it now (a new session's workflow, a running run's stop); the client may try again. */
export class TemporalUnavailable extends DomainError {
  /** The domain error for a failed Temporal call when the server could not be reached; any other error as it is. */
  static from(err: unknown): unknown {
    return (err as Error)?.name === 'ServiceError' ? new TemporalUnavailable() : err;
  }

  override name = 'TemporalUnavailable';
  constructor() {
    super('the workflow service did not answer; try again shortly');
  }
}

/** The account's (or its end user's) cap on sessions that are not closed is reached. */
export class TooManyOpenSessions extends DomainError {
  override name = 'TooManyOpenSessions';
  constructor(
    readonly maxOpenSessions: number,
    readonly scope: 'account' | 'user' = 'account',
  ) {
    super(`${scope === 'account' ? 'the account' : 'the end user'} already has ${maxOpenSessions} open sessions; close one first`);
  }
}

/** The session is closed (or closing) and takes no more requests. */
export class SessionClosed extends DomainError {
  override name = 'SessionClosed';
  constructor() {
    super('the session is closed');
  }
}

/** What a token's limits can forbid (the account's key is never limited so). */
export type TokenLimitKind = 'model' | 'max-estimate' | 'workspace' | 'setup' | 'cli-agent' | 'tools';

/** The caller's token does not allow this run or session (its model, size or features). */
export class ForbiddenByToken extends DomainError {
  override name = 'ForbiddenByToken';
  constructor(
    readonly limit: TokenLimitKind,
    detail: string,
  ) {
    super(detail);
  }
}

/** An agent run asked for what it cannot have: workspace tools without a workspace, tools for a CLI agent, `maxSteps` without tools. */
export class InvalidAgentRequest extends DomainError {
  override name = 'InvalidAgentRequest';
  constructor(readonly issues: { path: string; message: string }[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
}
