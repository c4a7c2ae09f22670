import { bearer, createAccount, getRun, startRun, waitForRun } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('first end-to-end run', () => {
  test('a demo/echo run succeeds with the prompt as its output, and is listed', async () => {
    const account = await createAccount(stack, 1000);
    const prompt = 'Durable runs survive restarts and   keep every credit.';
    // The 202 does not wait for any of the run's work: it comes back while no worker polls at all.
    await stack.stopWorker();
    let res;
    try {
      res = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 64 });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ status: 'queued', id: expect.stringMatching(/^run_/) });
      expect(res.headers.location).toBe(`/v1/runs/${res.body.id}`);
      expect(res.body.links.events).toBe(`/v1/runs/${res.body.id}/events`);
      expect(await getRun(stack, account, res.body.id)).toMatchObject({ status: 'queued', output: '' });
    } finally {
      await stack.startWorker();
    }

    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.step).toBe('done');
    expect(run.output).toBe(prompt);
    expect(run.usage).toEqual({ inputTokens: 8, outputTokens: 8 });
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);

    const list = await stack.http.get('/v1/runs').set(bearer(account));
    expect(list.status).toBe(200);
    expect(list.body.data.map((r: { id: string }) => r.id)).toContain(res.body.id);
    expect(list.body.nextCursor).toBeNull();
  });

  test('the workflow is visible in Temporal and filterable by RunwayAccount', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'find me', model: 'demo/echo' });
    await waitForRun(stack, account, res.body.id);
    const ids: string[] = [];
    const deadline = Date.now() + 15_000;
    while (ids.length === 0 && Date.now() < deadline) {
      for await (const wf of stack.temporal.workflow.list({ query: `RunwayAccount = '${account.id}'` })) ids.push(wf.workflowId);
      if (ids.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ids).toEqual([res.body.id]);
    const described = await stack.temporal.workflow.getHandle(res.body.id).describe();
    expect(described.memo).toMatchObject({ model: 'demo/echo', prompt: 'find me' });
  });

  test('lists are paged newest first with an opaque cursor and filter by status', async () => {
    const account = await createAccount(stack, 1000);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await startRun(stack, account, { prompt: `p${i}`, maxTokens: 4 })).body.id);
    for (const id of ids) await waitForRun(stack, account, id);
    const first = await stack.http.get('/v1/runs?limit=2').set(bearer(account));
    expect(first.body.data.map((r: { id: string }) => r.id)).toEqual([ids[2], ids[1]]);
    const second = await stack.http.get(`/v1/runs?limit=2&cursor=${first.body.nextCursor}`).set(bearer(account));
    expect(second.body.data.map((r: { id: string }) => r.id)).toEqual([ids[0]]);
    expect(second.body.nextCursor).toBeNull();
    const failed = await stack.http.get('/v1/runs?status=failed').set(bearer(account));
    expect(failed.body.data).toEqual([]);
    const bad = await stack.http.get('/v1/runs?cursor=nonsense').set(bearer(account));
    expect(bad.status).toBe(400);
    expect(bad.body.type).toBe('https://runway.dev/problems/invalid-cursor');
  });
});

describe('accounts and auth', () => {
  test('an account shows its balance and its ledger', async () => {
    const account = await createAccount(stack, 250);
    const me = await stack.http.get('/v1/account').set(bearer(account));
    expect(me.body).toEqual({ id: account.id, name: expect.any(String), balance: 250, reserved: 0 });
    const topUp = await stack.http
      .post(`/v1/admin/accounts/${account.id}/credits`)
      .set('authorization', `Bearer ${stack.adminToken}`)
      .send({ amount: 50, reason: 'promo' });
    expect(topUp.body).toEqual({ balance: 300 });
    const ledger = await stack.http.get('/v1/account/ledger').set(bearer(account));
    expect(ledger.body.data.map((e: { kind: string; amount: number; balanceAfter: number }) => [e.kind, e.amount, e.balanceAfter])).toEqual([
      ['credit', 50, 300],
      ['credit', 250, 250],
    ]);
  });

  test('the API key is stored only as a hash', async () => {
    const account = await createAccount(stack, 0);
    const rows = await stack.pool.query('SELECT * FROM accounts WHERE id = $1', [account.id]);
    expect(JSON.stringify(rows.rows)).not.toContain(account.apiKey);
  });

  test('another account gets 404 on a run, exactly as for a missing one', async () => {
    const owner = await createAccount(stack, 1000);
    const other = await createAccount(stack, 1000);
    const res = await startRun(stack, owner, { prompt: 'mine' });
    for (const path of [`/v1/runs/${res.body.id}`, '/v1/runs/run_doesnotexist']) {
      const got = await stack.http.get(path).set(bearer(other));
      expect(got.status).toBe(404);
      expect(got.body.type).toBe('https://runway.dev/problems/not-found');
    }
    const stop = await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(other));
    expect(stop.status).toBe(404);
    const list = await stack.http.get('/v1/runs').set(bearer(other));
    expect(list.body.data).toEqual([]);
  });

  test('a missing or wrong key gets 401 problem+json', async () => {
    for (const headers of [{}, { authorization: 'Bearer rwk_wrong' }, { authorization: 'Basic abc' }]) {
      const res = await stack.http.get('/v1/runs').set(headers);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.type).toBe('https://runway.dev/problems/unauthorized');
    }
  });

  test('admin calls need the admin token, not an account key', async () => {
    const account = await createAccount(stack, 0);
    for (const headers of [{}, bearer(account), { authorization: 'Bearer not-the-admin-token' }]) {
      const res = await stack.http.post('/v1/admin/accounts').set(headers).send({ name: 'x' });
      expect(res.status).toBe(401);
    }
  });
});

describe('health', () => {
  test('healthz and readyz answer when PostgreSQL and Temporal are up', async () => {
    expect((await stack.http.get('/healthz')).status).toBe(200);
    const ready = await stack.http.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', temporal: 'ok' });
  });
});
