import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount, waitForRun, type TestAccount } from './helpers/api';
import { words } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let account: TestAccount;

beforeAll(async () => {
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '20' } });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await stack?.stop();
});

interface Cli {
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  signal: (s: NodeJS.Signals) => void;
}

/** `npm run runway -- <args>` as a real process, with stdin not a terminal. */
function runway(args: string[]): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'src', 'bin', 'runway.ts'), ...args], {
    env: { ...process.env, RUNWAY_URL: stack.baseUrl, RUNWAY_API_KEY: account.apiKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    signal: (s) => child.kill(s),
  };
}

test('run --follow prints the output live and ends with the run', async () => {
  const prompt = words(30, 'c');
  const cli = runway(['run', prompt, '--follow']);
  expect(await cli.exited).toBe(0);
  expect(cli.stdout()).toBe(`${prompt}\n`);
  expect(cli.stderr()).toMatch(/^run_\w+ queued/);
  expect(cli.stderr()).toContain('✔ succeeded');
});

test('Ctrl-C without a terminal detaches, the run goes on, and follow picks it up again', async () => {
  const prompt = words(150, 'd');
  const cli = runway(['run', prompt, '--follow']);
  while (cli.stdout().length < 20) await sleep(20);
  cli.signal('SIGINT');
  expect(await cli.exited).toBe(0);
  expect(cli.stderr()).toContain('detached');
  const runId = /^(run_\w+)/.exec(cli.stderr())?.[1] as string;
  const run = await waitForRun(stack, account, runId);
  expect(run.status).toBe('succeeded');
  expect(run.output).toBe(prompt);

  const again = runway(['follow', runId]);
  expect(await again.exited).toBe(0);
  expect(again.stdout()).toBe(`${prompt}\n`);

  const missing = runway(['follow', 'run_doesnotexist']);
  expect(await missing.exited).toBe(1);
  expect(missing.stderr()).toContain('404');
});

test('Ctrl-C on a terminal asks; answering "s" stops the run', async () => {
  const prompt = words(300, 's');
  const entry = path.join(__dirname, '..', 'src', 'bin', 'runway.ts');
  // `script` gives the client a real pseudo-terminal, so Ctrl-C is typed rather than signalled.
  // `exec`: otherwise a shell that does not exec its last command (dash, when SHELL is unset) stays
  // in the terminal's foreground group, gets the SIGINT too and dies of it after the client exits.
  const command = `exec ${process.execPath} --import tsx ${entry} run "${prompt}" --follow`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, SHELL: '/bin/sh', RUNWAY_URL: stack.baseUrl, RUNWAY_API_KEY: account.apiKey },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  while (!/s1 /.test(screen)) await sleep(20);
  child.stdin.write('\x03');
  while (!screen.includes('[s]top / [d]etach')) await sleep(20);
  child.stdin.write('s\r');
  expect(await exited).toBe(3);
  expect(screen).toContain('stop requested');
  expect(screen).toContain('✖ stopped');
  const runId = /(run_\w+) queued/.exec(screen)?.[1] as string;
  expect((await waitForRun(stack, account, runId)).status).toBe('stopped');
});

test('usage errors exit with 2', async () => {
  const cli = runway(['run']);
  expect(await cli.exited).toBe(2);
  expect(cli.stderr()).toContain('Usage');
});
