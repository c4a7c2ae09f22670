import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/temporal/dev-server';
import { spawnPlatformProcess, waitForOutput, type PlatformProcess } from '../../test/helpers/processes';

export type { PlatformProcess } from '../../test/helpers/processes';

const ROOT = path.resolve(__dirname, '..', '..');
const START_TIMEOUT_MS = 60_000;

/**
 * A real API process (`src/bin/api.ts`, as `npm run start:api` runs it) on a free port, spawned
 * by the test suite's helper; resolves once /healthz answers. Unlike the test helper, a process
 * that fails to come up is killed rather than left behind.
 */
export async function startApi(env: Record<string, string>): Promise<PlatformProcess & { baseUrl: string }> {
  const port = await freePort();
  const proc = spawnPlatformProcess('api', { ...env, PORT: String(port) });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (await answers(`${baseUrl}/healthz`)) break;
      if (proc.child.exitCode !== null) throw new Error(`api exited early:\n${proc.output()}`);
      if (Date.now() > deadline) throw new Error(`api did not start:\n${proc.output()}`);
      await sleep(100);
    }
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return Object.assign(proc, { baseUrl });
}

/** A real platform worker process (`src/bin/worker.ts`); resolves once it polls its queue. */
export async function startPlatformWorker(env: Record<string, string>): Promise<PlatformProcess> {
  return ready(spawnPlatformProcess('worker', env), 'worker running');
}

/** The bench-only worker (bench/worker/main.ts): its own workflows and no-op activities. */
export async function startBenchWorker(env: Record<string, string>): Promise<PlatformProcess> {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'worker', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return ready(
    {
      name: 'bench-worker',
      child,
      output: () => output,
      async kill(signal: NodeJS.Signals = 'SIGTERM') {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill(signal);
        await exited;
      },
    },
    'bench worker running',
  );
}

/** SIGTERM (a graceful stop), then SIGKILL if the process is still there after `graceMs`. */
export async function stopProcess(proc: PlatformProcess, graceMs = 15_000): Promise<void> {
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  try {
    await proc.kill('SIGTERM');
  } finally {
    clearTimeout(timer);
  }
}

async function ready(proc: PlatformProcess, text: string): Promise<PlatformProcess> {
  try {
    await waitForOutput(proc, text, START_TIMEOUT_MS);
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return proc;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false; // not listening yet
  }
}
