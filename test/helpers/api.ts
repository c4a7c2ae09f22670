import { setTimeout as sleep } from 'node:timers/promises';
import type { TestStack } from './stack';
import type { RunView } from '../../src/api/schemas';
import { isTerminal } from '../../workflows/run-vocabulary';

export interface TestAccount {
  id: string;
  apiKey: string;
}

export async function createAccount(stack: TestStack, credits = 10_000, extra: Record<string, unknown> = {}): Promise<TestAccount> {
  const res = await stack.http
    .post('/v1/admin/accounts')
    .set('authorization', `Bearer ${stack.adminToken}`)
    .send({ name: `test-${Math.random().toString(36).slice(2, 8)}`, credits, ...extra });
  if (res.status !== 201) throw new Error(`account creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, apiKey: res.body.apiKey };
}

export const bearer = (account: TestAccount) => ({ authorization: `Bearer ${account.apiKey}` });

export async function startRun(stack: TestStack, account: TestAccount, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return stack.http.post('/v1/runs').set({ ...bearer(account), ...headers }).send(body);
}

export async function getRun(stack: TestStack, account: TestAccount, id: string): Promise<RunView> {
  const res = await stack.http.get(`/v1/runs/${id}`).set(bearer(account));
  if (res.status !== 200) throw new Error(`GET run ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as RunView;
}

/** Polls the run as a client would until the predicate holds (default: a terminal status). */
export async function waitForRun(
  stack: TestStack,
  account: TestAccount,
  id: string,
  until: (run: RunView) => boolean = (r) => isTerminal(r.status),
  timeoutMs = 30_000,
): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  let run = await getRun(stack, account, id);
  while (!until(run)) {
    if (Date.now() > deadline) throw new Error(`run ${id} still ${run.status}/${run.step} after ${timeoutMs} ms`);
    await sleep(50);
    run = await getRun(stack, account, id);
  }
  return run;
}

export async function ledgerOf(stack: TestStack, account: TestAccount) {
  const res = await stack.http.get('/v1/account/ledger?limit=100').set(bearer(account));
  return res.body.data as { runId: string | null; kind: string; amount: number; balanceAfter: number }[];
}

export async function accountOf(stack: TestStack, account: TestAccount) {
  const res = await stack.http.get('/v1/account').set(bearer(account));
  return res.body as { id: string; balance: number; reserved: number };
}

/** The money invariants: each run charged + refunded == reserved, once each, and balance = credits − charges. */
export async function expectLedgerConsistent(stack: TestStack, account: TestAccount): Promise<void> {
  const entries = await ledgerOf(stack, account);
  const byRun = new Map<string, Record<string, number[]>>();
  let credits = 0;
  let charges = 0;
  for (const e of entries) {
    if (e.kind === 'credit') credits += e.amount;
    // Usage above a reservation is charged apart (an overrun lowers the balance directly).
    if (e.kind === 'charge' || e.kind === 'overrun') charges += e.amount;
    if (!e.runId) continue;
    const kinds = byRun.get(e.runId) ?? {};
    (kinds[e.kind] ??= []).push(e.amount);
    byRun.set(e.runId, kinds);
  }
  for (const [runId, kinds] of byRun) {
    const reserve = kinds.reserve ?? [];
    const charge = kinds.charge ?? [];
    const refund = kinds.refund ?? [];
    expect({ runId, reserves: reserve.length, charges: charge.length, refunds: refund.length }).toEqual({
      runId,
      reserves: 1,
      charges: 1,
      refunds: 1,
    });
    expect((charge[0] ?? 0) + (refund[0] ?? 0)).toBe(reserve[0]);
  }
  const acct = await accountOf(stack, account);
  expect(acct.reserved).toBe(0);
  expect(acct.balance).toBe(credits - charges);
}
