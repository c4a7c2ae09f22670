import { admitInDatabase } from '../db/admission';
import { sessionHasPendingStart } from '../db/run-starts';
import type { Db } from '../db/database';
import { getRunById } from '../db/runs';
import { getVisibleSession } from '../db/sessions';
import type { AccountRow, RunRow } from '../db/schema';
import { derivedId, newId, sha256Hex } from '../ids';
import { costOf, type PriceBook } from '../pricing';
import type { ProviderRegistry } from '../providers/registry';
import { seal } from '../secrets/sealed-box';
import { InvalidWorkspace } from '../workspaces/errors';
import { assertValidWorkspace } from '../workspaces/validate';
import type { WorkspacePolicy } from '../workspaces/settings';
import { AdmissionRefused, IdempotencyKeyExpired, IdempotencyKeyReused, NotFound, UnknownModel } from './errors';
import { wasPurged } from '../db/retention';
import { metrics } from '../metrics/metrics';
import type { CreateRunRequest } from './requests';
import { assertEstimateAllowed, assertTokenAllows, type TokenSpender } from './token-limits';
import type { AdmissionRequest } from './admission';
import { agentAdmissionOf, offeredAtAdmission, withoutToolSecrets } from './agent-request';
import { DEFAULT_MAX_STEPS, type SealedBox } from '../../workflows/types';
import { runStartOfAdmission } from './run-input';
import type { RunLauncher } from './run-launcher';

export interface RunStarterDeps {
  db: Db;
  /** Starts admitted runs' workflows after the commit. */
  launcher: RunLauncher;
  prices: PriceBook;
  providers: ProviderRegistry;
  secretsKey: Buffer;
  maxActiveRuns: number;
  /** The default cap on one end user's active runs; null: none. */
  maxActiveRunsPerUser: number | null;
  /** Which workspace sources runs may use (config.workspaces); the defaults when absent. */
  workspaces?: WorkspacePolicy;
  /** Agent runs' tool price per second of sandbox time, and whether MCP servers may be private or plain http (config.agents). */
  agents?: { toolPricePerSecond: number; mcpAllowPrivate: boolean };
}

/** Ids chosen by the session before admission (its queue holds the run id from the start). */
export interface SessionRequestIds {
  runId: string;
  requestId: string;
  contextTokens: number;
  /** Whether the session has a workspace (its requests' workspace tools use it). */
  hasWorkspace: boolean;
}

/** What a run takes from the session it joins (nothing, outside a session). */
interface JoinedSession {
  contextTokens: number;
  user?: string;
  hasWorkspace: boolean;
}

export interface StartedRun {
  id: string;
  status: RunRow['status'];
  createdAt: string;
  estimate: number;
  /** True when an Idempotency-Key replay returned an existing run. */
  replayed: boolean;
  /** Admission order (orders a session's requests). */
  seq: number;
}

/** Stable JSON (sorted keys) so that the same body always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Admission: the run is decided and recorded in one PostgreSQL transaction and the client is
 * answered then; its workflow is started after the commit (RunLauncher). A 202 means the run is
 * durably admitted and will run, whether or not Temporal answers at that moment.
 */
export class RunStarter {
  constructor(private readonly deps: RunStarterDeps) {}

  /** The estimate in credits; UnknownModel when no provider or price exists for the model. */
  estimate(request: CreateRunRequest, contextTokens = 0): { estimate: number; price: { input: number; output: number } } {
    const provider = this.deps.providers.find(request.model);
    const price = this.deps.prices.priceOf(request.model);
    if (!provider || !price) {
      throw new UnknownModel(request.model);
    }
    // A session request also pays for the earlier turns it may carry, up to the session's budget.
    const tools = offeredAtAdmission(request.tools);
    const inputTokens = provider.estimateInputTokens([{ role: 'user', content: request.prompt }], request.model, tools) + contextTokens;
    const perCall = costOf(price, { inputTokens, outputTokens: request.maxTokens });
    // The spend cap: the caller's own, or one model call (one per turn an agent run may take).
    const calls = request.tools?.length ? (request.maxSteps ?? DEFAULT_MAX_STEPS) : 1;
    return { estimate: request.maxCredits ?? perCall * calls, price };
  }

  async start(
    account: AccountRow,
    request: CreateRunRequest,
    options: { idempotencyKey?: string; retryOf?: string; session?: SessionRequestIds; token?: TokenSpender } = {},
  ): Promise<StartedRun> {
    if (options.token) assertTokenAllows(options.token.limits, request);
    assertValidWorkspace(request.workspace, this.deps.workspaces);
    const joined: JoinedSession = options.session ?? (await this.sessionJoinedBy(account, request));
    const contextTokens = joined.contextTokens;
    // A run in a session serves the session's end user (admission decides the same under its lock).
    if (joined.user) request = { ...request, user: joined.user };
    const agent = agentAdmissionOf(request, {
      hasWorkspace: Boolean(request.workspace) || joined.hasWorkspace,
      toolPricePerSecond: this.deps.agents?.toolPricePerSecond ?? 0,
      mcpAllowPrivate: this.deps.agents?.mcpAllowPrivate ?? false,
    });
    const { estimate, price } = this.estimate(request, contextTokens);
    if (options.token) assertEstimateAllowed(options.token.limits, estimate);
    // Secrets are not part of the hash: same key and same visible body is the same request.
    const requestHash = sha256Hex(canonical({ ...withoutToolSecrets(request), secrets: undefined, retryOf: options.retryOf }));
    const runId =
      options.session?.runId ??
      // An end user's key names that user's run only: another user (or a token for one) reusing
      // the key cannot replay its way to a run outside their own.
      (options.idempotencyKey ? derivedId('run', account.id, ...(request.user ? [request.user] : []), options.idempotencyKey) : newId('run'));

    if (options.idempotencyKey) {
      const existing = await getRunById(this.deps.db, runId);
      if (existing) return this.replay(existing, requestHash);
      if (await wasPurged(this.deps.db, runId)) throw new IdempotencyKeyExpired();
    }

    const input: AdmissionRequest = {
      runId,
      accountId: account.id,
      model: request.model,
      prompt: request.prompt,
      maxTokens: request.maxTokens,
      estimate,
      price,
      workspace: request.workspace ?? null,
      metadata: request.metadata,
      sessionId: request.sessionId ?? null,
      requestId: options.session?.requestId ?? null,
      retryOf: options.retryOf ?? null,
      requestHash,
      maxActiveRuns: this.deps.maxActiveRuns,
      user: request.user ?? null,
      maxActiveRunsPerUser: this.deps.maxActiveRunsPerUser,
      sealedSecrets: this.sealedSecretsOf(runId, request, agent?.mcpHeaders ?? {}),
      agent: agent?.agent ?? null,
    };
    const decided = await admitInDatabase(this.deps.db, input, {
      startAfterMs: this.deps.launcher.graceMs,
      token: options.token,
      userMetadata: request.userMetadata,
    });
    if (decided.outcome === 'refused') {
      metrics.runsRefused.inc({ reason: decided.reason });
      if (decided.reason === 'session-not-found') throw new NotFound('session');
      throw new AdmissionRefused(decided.reason, decided.detail, estimate, decided.balance);
    }
    // A concurrent request with the same key was admitted first: this one is its replay, or a conflict.
    if (decided.requestHash !== requestHash) throw new IdempotencyKeyReused();
    const started = { id: runId, status: 'queued' as const, createdAt: decided.createdAt.toISOString(), estimate, seq: decided.seq };
    if (decided.outcome === 'existing') return { ...started, replayed: true };
    metrics.runsAdmitted.inc();
    metrics.credits.inc({ kind: 'reserved' }, estimate);

    const start = runStartOfAdmission(input, decided.seq);
    // A session hears of its requests in admission order: those are started before the reply,
    // unless an earlier one still waits in the outbox (then the relay starts both, in order).
    if (!input.sessionId) this.deps.launcher.launchSoon(start);
    else if (!(await sessionHasPendingStart(this.deps.db, input.sessionId, decided.seq))) await this.deps.launcher.launchNow(start);
    return { ...started, replayed: false };
  }

  /**
   * A run posted with a `sessionId` joins that session: it must be the caller's (decided again
   * under the session's row lock in admission; read here for its context budget and end user), uses the
   * session's workspace, and pays for the session's context like any of its requests.
   */
  private async sessionJoinedBy(account: AccountRow, request: CreateRunRequest): Promise<JoinedSession> {
    if (!request.sessionId) return { contextTokens: 0, hasWorkspace: false };
    if (request.workspace) {
      throw new InvalidWorkspace([{ path: 'workspace', message: "a run in a session uses the session's workspace: send either workspace or sessionId" }]);
    }
    const session = await getVisibleSession(this.deps.db, { accountId: account.id, user: request.user }, request.sessionId);
    if (!session) throw new NotFound('session');
    return { contextTokens: session.context_tokens, user: session.user_id ?? undefined, hasWorkspace: session.workspace !== null };
  }

  /** The run's own key and its MCP servers' headers, sealed to the run; null when it has neither. */
  private sealedSecretsOf(runId: string, request: CreateRunRequest, mcpHeaders: Record<string, Record<string, string>>): SealedBox | null {
    const secrets = { ...request.secrets, ...(Object.keys(mcpHeaders).length > 0 ? { mcpHeaders } : {}) };
    return Object.keys(secrets).length > 0 ? seal(this.deps.secretsKey, runId, secrets) : null;
  }

  private replay(existing: RunRow, requestHash: string): StartedRun {
    if (existing.request_hash !== requestHash || existing.deleted_at) throw new IdempotencyKeyReused();
    return {
      id: existing.id,
      status: existing.status,
      createdAt: existing.created_at.toISOString(),
      estimate: existing.estimate,
      replayed: true,
      seq: existing.seq,
    };
  }
}
