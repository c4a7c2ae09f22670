import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { createAccount, expectLedgerConsistent, ledgerOf, startRun, waitForRun } from './helpers/api';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';
import { freePort, startDevServer, superviseDevServer, type DevServer, type SupervisedDevServer } from '../src/temporal/dev-server';
import { waitForNamespace } from '../src/temporal/connection';

const prompt = Array.from({ length: 80 }, (_, i) => `token${i}`).join(' ');

describe('a worker process killed mid-run', () => {
  let stack: TestStack;
  let worker: PlatformProcess | undefined;
  beforeAll(async () => {
    stack = await startStack({ worker: false, env: { RUNWAY_DEMO_DELAY_MS: '40' } });
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await stack?.stop();
  });

  test('the run completes on a new worker and the ledger shows each entry exactly once', async () => {
    const env = { ...stackEnv(stack), RUNWAY_DEMO_DELAY_MS: '40' };
    // The first worker streams at 400 ms a token: its attempt has half a minute of output left when
    // it is killed, so it is always killed mid-run, however slowly this test gets to the kill.
    worker = await spawnWorker({ ...env, RUNWAY_DEMO_DELAY_MS: '400' });
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 100 });
    expect(res.status).toBe(202);
    await waitForRun(stack, account, res.body.id, (r) => r.usage.outputTokens >= 3, 60_000);
    await worker.kill('SIGKILL');

    worker = await spawnWorker(env);
    const run = await waitForRun(stack, account, res.body.id, undefined, 90_000);
    expect(run.status).toBe('succeeded');
    expect(run.attempt).toBeGreaterThanOrEqual(2);
    // The output is the final attempt's, whole and not garbled by the first one.
    expect(run.output).toBe(prompt);
    const entries = (await ledgerOf(stack, account)).filter((e) => e.runId === run.id);
    expect(entries.map((e) => e.kind).sort()).toEqual(['charge', 'refund', 'reserve']);
    await expectLedgerConsistent(stack, account);
    const resets = await stack.db.selectFrom('run_events').select('data').where('run_id', '=', run.id).where('type', '=', 'reset').execute();
    expect(resets.length).toBeGreaterThanOrEqual(1);
  }, 180_000);
});

describe('the Temporal dev server restarted mid-run', () => {
  let server: DevServer | undefined;
  let stack: TestStack | undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'runway-restart-'));
  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the run completes once the server is back (same SQLite file)', async () => {
    const port = await freePort();
    const boot = async () => {
      const s = await startDevServer({ port, uiPort: null, namespace: 'runway', dataDir });
      await waitForNamespace(s.address, 'runway');
      return s;
    };
    server = await boot();
    stack = await startStack({ env: { TEMPORAL_ADDRESS: server.address, RUNWAY_DEMO_DELAY_MS: '40' } });
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 100 });
    expect(res.status).toBe(202);
    await waitForRun(stack, account, res.body.id, (r) => r.usage.outputTokens >= 5, 60_000);

    await server.stop(); // resolves once the server process has exited
    server = await boot();

    const run = await waitForRun(stack, account, res.body.id, undefined, 120_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe(prompt);
    await expectLedgerConsistent(stack, account);
  }, 180_000);
});

describe('the Temporal dev server of npm start killed mid-run', () => {
  let server: SupervisedDevServer | undefined;
  let stack: TestStack | undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'runway-supervised-'));
  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('is started again by its supervisor, and the run completes', async () => {
    const logs: string[] = [];
    server = await superviseDevServer({ port: await freePort(), uiPort: null, namespace: 'runway', dataDir, log: (m) => logs.push(m) });
    await waitForNamespace(server.address, 'runway');
    stack = await startStack({ env: { TEMPORAL_ADDRESS: server.address, RUNWAY_DEMO_DELAY_MS: '40' } });
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 100 });
    await waitForRun(stack, account, res.body.id, (r) => r.usage.outputTokens >= 5, 60_000);

    const first = server.process();
    const exited = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGKILL'); // nobody asked it to stop: a crash
    await exited;

    const run = await waitForRun(stack, account, res.body.id, undefined, 120_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe(prompt);
    expect(server.restarts()).toBe(1);
    expect(server.process().pid).not.toBe(first.pid);
    expect(logs.join('\n')).toMatch(/exited \(SIGKILL\); starting it again/);
    await expectLedgerConsistent(stack, account);
  }, 180_000);
});
