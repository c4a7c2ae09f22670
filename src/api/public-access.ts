import type { AccountRow } from '../db/schema';
import { PUBLIC_ACCESS_SECONDS } from '../tokens/scoped-tokens';
import type { ApiDeps } from './deps';

/** Read access to one run for 15 minutes: a backend hands it to the browser that follows the run. */
export async function publicAccessToken(deps: ApiDeps, account: AccountRow, runId: string): Promise<string> {
  const grant = { accountId: account.id, scope: { runs: [runId] }, permissions: ['read' as const], generation: account.token_generation };
  return (await deps.tokens.issue(grant, PUBLIC_ACCESS_SECONDS)).token;
}
