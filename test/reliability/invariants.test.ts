import { sql } from 'kysely';
import { createAccount, startRun, waitForRun } from '../helpers/api';
import { startStack, type TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';

/** The checker the scenarios rely on finds each kind of broken invariant (it can fail). */
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.stop();
});

test('a clean account passes; a gap, an output that is not its deltas, a stuck reservation, an unfinished run and an open workflow are each reported', async () => {
  const account = await createAccount(stack, 10_000);
  const done = await startRun(stack, account, { prompt: 'one two three four', model: 'demo/echo', maxTokens: 8 });
  await waitForRun(stack, account, done.body.id);
  expect((await checkInvariants(stack, [account.id])).violations).toEqual([]);

  await sql`DELETE FROM run_events WHERE run_id = ${done.body.id} AND id = 2`.execute(stack.db);
  await sql`UPDATE runs SET output = output || 'x' WHERE id = ${done.body.id}`.execute(stack.db);
  await sql`UPDATE accounts SET reserved = reserved + 1, balance = balance - 1 WHERE id = ${account.id}`.execute(stack.db);
  // A run that never ends: its workflow stays open (a stop the worker never hears of would do the same).
  await stack.stopWorker();
  const stuck = await startRun(stack, account, { prompt: 'never finishes', model: 'demo/echo', maxTokens: 8 });
  const violations = (await checkInvariants(stack, [account.id])).violations.join('\n');
  await stack.startWorker();
  await waitForRun(stack, account, stuck.body.id);

  expect(violations).toContain(`run ${done.body.id}: event ids`);
  expect(violations).toContain(`run ${done.body.id}: output`);
  expect(violations).toContain(`account ${account.id}: reserved 1`);
  expect(violations).toContain(`account ${account.id}: balance`);
  expect(violations).toContain(`run ${stuck.body.id} is queued`);
  expect(violations).toMatch(new RegExp(`workflow runWorkflow ${stuck.body.id} is still running`));
}, 120_000);
