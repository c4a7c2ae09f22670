import {
  AdmissionRefused,
  ForbiddenByToken,
  IdempotencyKeyExpired,
  InvalidAgentRequest,
  IdempotencyKeyReused,
  NotFound,
  RunEnded,
  SessionClosed,
  TemporalUnavailable,
  TooManyOpenSessions,
  UnknownModel,
  type AdmissionRefusal,
} from '../runs/errors';
import { InvalidWorkspace } from '../workspaces/errors';
import { InvalidWebhookUrl, TooManyRedeliveries, TooManyWebhooks } from '../webhooks/errors';
import { Problem, problems } from './problem';

/**
 * `type` defaults to the reason; both caps share one type and tell which one by `scope`.
 * `tokenDetail`: what a scoped token's holder (an end user, hostile to the tenant) is told
 * instead of the detail, which names the account's balance or counts (default: the title).
 */
const REFUSALS: Record<AdmissionRefusal, { status: number; title: string; type?: string; extra?: Record<string, unknown>; tokenDetail?: string }> = {
  'insufficient-credits': { status: 402, title: 'Insufficient credits', tokenDetail: 'the account cannot pay for this run right now' },
  'too-many-active-runs': { status: 429, title: 'Too many active runs', extra: { scope: 'account' }, tokenDetail: 'the account has too many active runs; retry later' },
  'too-many-active-runs-for-user': {
    status: 429,
    title: 'Too many active runs',
    type: 'too-many-active-runs',
    extra: { scope: 'user' },
    tokenDetail: 'this end user has too many active runs; retry when one has ended',
  },
  'session-busy': { status: 409, title: 'Session busy' },
  'session-closed': { status: 409, title: 'Session closed' },
  // A token's budgets, like the balance, are money: 402, one type, which budget by `scope`.
  'token-budget-exceeded': { status: 402, title: 'Budget exceeded', type: 'budget-exceeded', extra: { scope: 'token' } },
  'user-budget-exceeded': { status: 402, title: 'Budget exceeded', type: 'budget-exceeded', extra: { scope: 'user' } },
};

/**
 * The one mapping from domain errors to HTTP problems, so statuses and `type` slugs live at the
 * edge only. Anything else is not the domain's refusal: undefined, and the caller decides.
 * `byToken`: the caller holds a scoped token, and is not told the account's balance or counts.
 */
export function problemOfDomainError(err: unknown, byToken = false): Problem | undefined {
  if (err instanceof AdmissionRefused) {
    const r = REFUSALS[err.reason];
    if (byToken) return new Problem(r.status, r.type ?? err.reason, r.title, r.tokenDetail ?? r.title, { ...r.extra, estimate: err.estimate });
    return new Problem(r.status, r.type ?? err.reason, r.title, err.detail, { ...r.extra, estimate: err.estimate, balance: err.balance });
  }
  if (err instanceof ForbiddenByToken) return new Problem(403, 'token-limit', 'Forbidden by the token', err.message, { limit: err.limit });
  if (err instanceof NotFound) return problems.notFound(err.kind);
  if (err instanceof UnknownModel) {
    return new Problem(400, 'unknown-model', 'Unknown model', err.message, {
      errors: [{ path: 'model', message: 'unknown model' }],
    });
  }
  if (err instanceof InvalidWorkspace) {
    return new Problem(400, 'invalid-workspace', 'Invalid workspace', err.message, { errors: err.issues });
  }
  if (err instanceof InvalidAgentRequest) {
    return new Problem(400, 'invalid-agent-request', 'Invalid agent request', err.message, { errors: err.issues });
  }
  if (err instanceof InvalidWebhookUrl) {
    return new Problem(400, 'invalid-webhook-url', 'Invalid webhook URL', err.message, { errors: [{ path: 'url', message: err.reason }] });
  }
  return conflictOrLimit(err, byToken);
}

function conflictOrLimit(err: unknown, byToken: boolean): Problem | undefined {
  if (err instanceof IdempotencyKeyReused) {
    return new Problem(409, 'idempotency-key-reused', 'Idempotency-Key reused', err.message);
  }
  if (err instanceof IdempotencyKeyExpired) {
    return new Problem(409, 'idempotency-key-expired', 'Idempotency-Key expired', err.message);
  }
  if (err instanceof RunEnded) return problems.conflict('run-terminal', err.message);
  if (err instanceof SessionClosed) return new Problem(409, 'session-closed', 'Session closed', err.message);
  if (err instanceof TooManyOpenSessions) {
    if (byToken) {
      // Which cap, not its size: a user at their own cap should close a session, not wait for others.
      const who = err.scope === 'user' ? 'you have' : 'the account has';
      return new Problem(429, 'too-many-open-sessions', 'Too many open sessions', `${who} too many open sessions; close one or retry later`, { scope: err.scope });
    }
    return new Problem(429, 'too-many-open-sessions', 'Too many open sessions', err.message, {
      maxOpenSessions: err.maxOpenSessions,
      scope: err.scope,
    });
  }
  if (err instanceof TooManyWebhooks) {
    return new Problem(429, 'too-many-webhooks', 'Too many webhook endpoints', err.message, { maxWebhooks: err.maxWebhooks });
  }
  if (err instanceof TooManyRedeliveries) {
    return new Problem(429, 'too-many-redeliveries', 'Too many redeliveries', err.message, { maxRedeliveries: err.maxRedeliveries });
  }
  if (err instanceof TemporalUnavailable) return new Problem(503, 'temporal-unavailable', 'Temporal unavailable', err.message);
  return undefined;
}
