import type { WorkspaceSpec } from '../db/schema';
import type { TokenLimits } from '../tokens/scoped-tokens';
import { ForbiddenByToken } from './errors';

/**
 * A scoped token's holder creating runs and sessions: bounded by the token's limits, and its
 * budget counted under its id until it expires (see src/db/sql/runway_admit.sql).
 */
export interface TokenSpender {
  tokenId: string;
  expiresAt: Date;
  limits: TokenLimits;
}

/** Whether the list allows the model: an exact name, or `provider/*` for all of a provider's. */
export function modelAllowed(allowed: readonly string[], model: string): boolean {
  return allowed.some((m) => (m.endsWith('/*') ? model.startsWith(m.slice(0, -1)) : m === model));
}

/**
 * What a token may ask for, before anything is estimated or reserved: its models, and no
 * workspace, setup command or CLI agent unless granted (each runs code or holds disk and a
 * worker for up to half an hour).
 */
export function assertTokenAllows(limits: TokenLimits, request: { model: string; workspace?: WorkspaceSpec | null; tools?: unknown[] }): void {
  if (limits.models && !modelAllowed(limits.models, request.model)) {
    throw new ForbiddenByToken('model', `this token may not use model "${request.model}"`);
  }
  if (request.model.startsWith('cli/') && !limits.allow?.cliAgents) {
    throw new ForbiddenByToken('cli-agent', 'this token may not run CLI agents');
  }
  if (request.workspace && !limits.allow?.workspaces) {
    throw new ForbiddenByToken('workspace', 'this token may not use workspaces');
  }
  // Agent tools run commands in the workspace or call servers on the tenant's behalf.
  if (request.tools?.length && !limits.allow?.tools) {
    throw new ForbiddenByToken('tools', 'this token may not give runs tools');
  }
  if (request.workspace?.setup?.length && !limits.allow?.setup) {
    throw new ForbiddenByToken('setup', 'this token may not run setup commands');
  }
}

/** A run's estimate within the token's per-run maximum. */
export function assertEstimateAllowed(limits: TokenLimits, estimate: number): void {
  if (limits.maxEstimate !== undefined && estimate > limits.maxEstimate) {
    throw new ForbiddenByToken('max-estimate', `the run's estimate of ${estimate} credits exceeds this token's maximum of ${limits.maxEstimate} per run`);
  }
}

/**
 * The limits a token is issued with: a `create` token whose issuer set no per-run maximum or
 * budget gets the operator's defaults, so a forgotten limit never hands a browser the account's
 * whole balance. An explicit value (higher or lower) is kept.
 */
export function limitsToIssue(
  limits: TokenLimits | undefined,
  permissions: readonly string[],
  defaults: { maxEstimate: number; budget: number },
): TokenLimits | undefined {
  if (!permissions.includes('create')) return limits;
  return { ...limits, maxEstimate: limits?.maxEstimate ?? defaults.maxEstimate, budget: limits?.budget ?? defaults.budget };
}
