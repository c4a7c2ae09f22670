import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount, startRun, waitForRun } from './helpers/api';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { words } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

/**
 * The worker process as an operator meets it (issue #20): readable logs on a terminal, JSON lines
 * otherwise, the bundler's report only when asked, and a SIGTERM that lets running activities
 * finish instead of dropping them.
 */
const ROOT = path.resolve(__dirname, '..');
let stack: TestStack;
const workers: PlatformProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => {
  for (const w of workers) await w.kill('SIGKILL');
  await stack.stop();
});

async function worker(env: Record<string, string> = {}): Promise<PlatformProcess> {
  const proc = await spawnWorker({ ...stackEnv(stack), ...env });
  workers.push(proc);
  return proc;
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

test('piped: JSON lines only, the Temporal SDK included, and no bundler report unless asked', async () => {
  const quiet = await worker();
  const out = lines(quiet.output());
  for (const line of out) expect(() => JSON.parse(line)).not.toThrow();
  expect(out.map((l) => JSON.parse(l).msg)).toContain('worker running');
  expect(quiet.output()).not.toMatch(/Workflow bundle created|webpack \d|asset workflow-bundle/);
  await quiet.kill();

  const verbose = await worker({ RUNWAY_LOG_BUNDLER: 'true' });
  const bundler = lines(verbose.output()).map((l) => JSON.parse(l)).filter((l) => l.component === 'bundler');
  expect(bundler.map((l) => l.msg)).toContain('Workflow bundle created');
  await verbose.kill();
}, 120_000);

test('on a terminal: readable lines, not JSON', async () => {
  // `script` gives the worker a real pseudo-terminal, as `npm start` in a shell does.
  const command = `${process.execPath} --import tsx ${path.join(ROOT, 'src/bin/worker.ts')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, ...stackEnv(stack), NODE_ENV: 'test', RUNWAY_WORKER_METRICS_PORT: '0' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  try {
    for (const deadline = Date.now() + 60_000; !output.includes('worker running'); await sleep(100)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no "worker running" on the terminal:\n${output}`);
    }
    const running = lines(output).find((l) => l.includes('worker running'))!;
    expect(running).toMatch(/INFO/);
    expect(() => JSON.parse(running)).toThrow();
  } finally {
    process.kill(-child.pid!, 'SIGKILL');
  }
}, 90_000);

test('SIGTERM lets a running model call finish: the run completes in one attempt', async () => {
  const first = await worker({ RUNWAY_DEMO_DELAY_MS: '60' });
  const account = await createAccount(stack, 10_000);
  const prompt = words(50, 'drain');
  const started = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 100 });
  await waitForRun(stack, account, started.body.id, (r) => r.status === 'running' && r.output.length > 0);
  await first.kill('SIGTERM'); // resolves once the process has exited
  expect(first.output()).not.toMatch(/shutdown failed/);
  // The settle step needs a worker; the model call already finished in the one that left.
  await worker();
  const run = await waitForRun(stack, account, started.body.id);
  expect(run).toMatchObject({ status: 'succeeded', output: prompt, attempt: 1 });
}, 90_000);
