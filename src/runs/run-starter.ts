import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Db } from '../db/database';
import { getRunById } from '../db/runs';
import { getOwnedSession } from '../db/sessions';
import type { AccountRow, RunRow } from '../db/schema';
import { derivedId, newId, sha256Hex } from '../ids';
import { costOf, type PriceBook } from '../pricing';
import type { ProviderRegistry } from '../providers/registry';
import { seal } from '../secrets/sealed-box';
import { truncate } from '../text';
import { InvalidWorkspace } from '../workspaces/errors';
import { assertValidWorkspace } from '../workspaces/validate';
import type { WorkspacePolicy } from '../workspaces/settings';
import { admitRun } from './admission';
import { AdmissionRefused, IdempotencyKeyReused, NotFound, TemporalUnavailable, UnknownModel } from './errors';
import type { CreateRunRequest } from './requests';
import { RUN_WORKFLOW_TYPE } from '../../workflows/definitions';
import type { runWorkflow } from '../../workflows/run-workflow';
import {
  RUNWAY_ACCOUNT,
  RUNWAY_STATUS,
  type Admission,
  type RunWorkflowInput,
} from '../../workflows/types';

export interface RunStarterDeps {
  db: Db;
  temporal: Client;
  prices: PriceBook;
  providers: ProviderRegistry;
  secretsKey: Buffer;
  taskQueue: string;
  maxActiveRuns: number;
  /** Which workspace sources runs may use (config.workspaces); the defaults when absent. */
  workspaces?: WorkspacePolicy;
}

/** Ids chosen by the session before admission (its queue holds the run id from the start). */
export interface SessionRequestIds {
  runId: string;
  requestId: string;
  contextTokens: number;
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
 * Admission: one workflow per run, and the reservation's outcome (admitted or AdmissionRefused) is
 * known before the HTTP reply, while the AI work goes on afterwards.
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
    const inputTokens = provider.estimateInputTokens([{ role: 'user', content: request.prompt }]) + contextTokens;
    return { estimate: costOf(price, { inputTokens, outputTokens: request.maxTokens }), price };
  }

  async start(
    account: AccountRow,
    request: CreateRunRequest,
    options: { idempotencyKey?: string; retryOf?: string; session?: SessionRequestIds } = {},
  ): Promise<StartedRun> {
    assertValidWorkspace(request.workspace, this.deps.workspaces);
    const contextTokens = options.session?.contextTokens ?? (await this.sessionContextOf(account, request));
    const { estimate, price } = this.estimate(request, contextTokens);
    // Secrets are not part of the hash: same key and same visible body is the same request.
    const requestHash = sha256Hex(canonical({ ...request, secrets: undefined, retryOf: options.retryOf }));
    const runId =
      options.session?.runId ??
      (options.idempotencyKey ? derivedId('run', account.id, options.idempotencyKey) : newId('run'));

    if (options.idempotencyKey) {
      const existing = await getRunById(this.deps.db, runId);
      if (existing) return this.replay(existing, requestHash);
    }

    const input: RunWorkflowInput = {
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
      sealedSecrets: request.secrets && Object.keys(request.secrets).length > 0
        ? seal(this.deps.secretsKey, runId, request.secrets)
        : null,
    };
    const admission = await this.admit(input);
    if (!admission.admitted) {
      if (admission.reason === 'session-not-found') throw new NotFound('session');
      throw new AdmissionRefused(admission.reason, admission.detail, estimate, admission.balance);
    }
    if (admission.requestHash !== requestHash) throw new IdempotencyKeyReused();
    return { id: runId, status: 'queued', createdAt: admission.createdAt, estimate, replayed: false, seq: admission.seq ?? 0 };
  }

  /**
   * A run posted with a `sessionId` joins that session: it must be the caller's (decided again
   * under the session's row lock in admission; checked here too so that a foreign or unknown
   * session never gets a workflow started for it), uses the session's workspace, and pays for the
   * session's context like any of its requests.
   */
  private async sessionContextOf(account: AccountRow, request: CreateRunRequest): Promise<number> {
    if (!request.sessionId) return 0;
    if (request.workspace) {
      throw new InvalidWorkspace([{ path: 'workspace', message: "a run in a session uses the session's workspace: send either workspace or sessionId" }]);
    }
    const session = await getOwnedSession(this.deps.db, account.id, request.sessionId);
    if (!session) throw new NotFound('session');
    return session.context_tokens;
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

  /**
   * Starts the run's workflow, then decides admission in one database transaction. The workflow
   * exists before the reservation, so a crash of this process between the two leaves nothing
   * stranded: the workflow's first activity makes (or reads) the same decision. Only a plain
   * start is awaited here, so a reply costs about one workflow start plus one transaction.
   */
  private async admit(input: RunWorkflowInput): Promise<Admission> {
    let handle;
    try {
      handle = await this.deps.temporal.workflow.start<typeof runWorkflow>(RUN_WORKFLOW_TYPE, {
        workflowId: input.runId,
        taskQueue: this.deps.taskQueue,
        args: [input],
        // A concurrent replay of the same Idempotency-Key joins the running workflow; a key whose
        // earlier attempt was refused (402/429) starts a new execution and is decided afresh.
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: [
          { key: RUNWAY_ACCOUNT, value: input.accountId },
          { key: RUNWAY_STATUS, value: 'queued' },
        ],
        memo: { model: input.model, prompt: truncate(input.prompt, 80) },
        staticSummary: `${input.model} run for ${input.accountId}`,
      });
    } catch (err) {
      if ((err as Error).name === 'ServiceError' || (err as { code?: number }).code === 14) {
        throw new TemporalUnavailable();
      }
      throw err;
    }
    return admitRun(this.deps.db, input, handle.firstExecutionRunId);
  }
}
