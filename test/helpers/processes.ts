import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { freePort } from '../../src/temporal/dev-server';

const ROOT = path.resolve(__dirname, '..', '..');

export interface PlatformProcess {
  name: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Ends the process with a signal and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `src/bin/<entry>.ts` as a real child process (as `npm run start:api` or
 * `start:worker` would), with the test stack's environment plus `env`.
 */
export function spawnPlatformProcess(entry: 'api' | 'worker', env: Record<string, string>): PlatformProcess {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'bin', `${entry}.ts`)], {
    cwd: ROOT,
    // No worker metrics port unless a test asks: several workers share this host.
    env: { ...process.env, NODE_ENV: 'test', RUNWAY_WORKER_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return {
    name: entry,
    child,
    output: () => output,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}

/** Waits until the process output contains `text` (e.g. "worker running"). */
export async function waitForOutput(proc: PlatformProcess, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.output().includes(text)) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited early:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} did not print "${text}":\n${proc.output()}`);
    await sleep(100);
  }
}

/** A real API process on a free port; resolves once /healthz answers. */
export async function spawnApi(env: Record<string, string>): Promise<PlatformProcess & { baseUrl: string }> {
  const port = await freePort();
  const proc = spawnPlatformProcess('api', { ...env, PORT: String(port) });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.child.exitCode !== null) throw new Error(`api exited early:\n${proc.output()}`);
    if (Date.now() > deadline) {
      await proc.kill('SIGKILL'); // never leave a half-started process behind a failed test
      throw new Error(`api did not start:\n${proc.output()}`);
    }
    await sleep(100);
  }
  return { ...proc, baseUrl };
}

/** A real worker process; resolves once it polls its task queue. */
export async function spawnWorker(env: Record<string, string>): Promise<PlatformProcess> {
  const proc = spawnPlatformProcess('worker', env);
  try {
    await waitForOutput(proc, 'worker running');
  } catch (err) {
    await proc.kill('SIGKILL');
    throw err;
  }
  return proc;
}

/**
 * Waits until the process polls `taskQueue` for activity tasks, as the Temporal server sees it.
 * "worker running" is printed before the worker's pollers start; a test whose point is which
 * worker gets a task waits for this instead. Poller identities are the SDK's default,
 * `<pid>@<host name>`.
 */
export async function waitForActivityPoller(client: Client, proc: PlatformProcess, taskQueue: string, timeoutMs = 60_000): Promise<void> {
  const identity = `${proc.child.pid}@${os.hostname()}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    if (pollers?.some((p) => p.identity === identity)) return;
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited early:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} (${identity}) does not poll ${taskQueue}:\n${proc.output()}`);
    await sleep(100);
  }
}

/** The environment that points a spawned process at a test stack. */
export function stackEnv(stack: { config: { temporal: { taskQueue: string } }; adminToken: string; secretsKey: Buffer }): Record<string, string> {
  return {
    RUNWAY_TASK_QUEUE: stack.config.temporal.taskQueue,
    RUNWAY_ADMIN_TOKEN: stack.adminToken,
    RUNWAY_SECRETS_KEY: stack.secretsKey.toString('base64'),
    RUNWAY_LOG_LEVEL: 'info',
  };
}
