import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config';
import { RUNWAY_SEARCH_ATTRIBUTES } from '../../workflows/run-vocabulary';
import { ensureTemporalCli } from './cli';

/** The dev server's `--search-attribute` flags: every Runway attribute, as a Keyword. */
export const SEARCH_ATTRIBUTES = RUNWAY_SEARCH_ATTRIBUTES.map((name) => `${name}=Keyword`);

export interface DevServerOptions {
  port: number;
  /** Web UI port, or null for a headless server. */
  uiPort: number | null;
  namespace: string;
  dataDir: string;
  ip?: string;
  log?: (msg: string) => void;
  /** Where the server's own output goes (default: ignored). */
  stdio?: 'inherit' | 'ignore';
}

export interface DevServer {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Whether something accepts TCP connections on the port right now. */
export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(host: string, port: number, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`the process meant to listen on ${host}:${port} exited`);
    if (await portOpen(host, port)) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

/** The local dev server the configuration describes (TEMPORAL_ADDRESS, TEMPORAL_UI_PORT, data folder). */
export function devServerOptionsFrom(config: Config): DevServerOptions {
  const [ip = '127.0.0.1', port = '7233'] = config.temporal.address.split(':');
  return {
    ip,
    port: Number(port),
    uiPort: config.temporal.uiPort,
    namespace: config.temporal.namespace,
    dataDir: path.join(config.dataDir, 'temporal'),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts `temporal server start-dev` with a SQLite file (runs survive a restart), the project's
 * namespace and search attributes.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = await ensureTemporalCli(options.log);
  mkdirSync(options.dataDir, { recursive: true });
  const ip = options.ip ?? '127.0.0.1';
  const args = [
    'server', 'start-dev',
    '--ip', ip,
    '--port', String(options.port),
    '--db-filename', path.join(options.dataDir, 'temporal.sqlite'),
    // WAL lets readers proceed while SQLite's single writer commits: measured here, bare workflow
    // starts went from about 76 to 306 a second, and a single start from 12 to 3.5 ms.
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
    '--namespace', options.namespace,
    '--log-level', 'warn',
    '--dynamic-config-value', 'frontend.workerVersioningWorkflowAPIs=true',
    // A Worker Deployment per task queue (src/temporal/versioning.ts), and the test suite gives each
    // stack a queue of its own: the default limit of 100 per namespace is reached within one run.
    '--dynamic-config-value', 'matching.maxDeployments=100000',
  ];
  for (const attr of SEARCH_ATTRIBUTES) args.push('--search-attribute', attr);
  if (options.uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort));

  const child = spawn(cli, args, { stdio: ['ignore', options.stdio ?? 'ignore', options.stdio ?? 'ignore'], detached: false });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    await waitForPort(ip, options.port, 60_000, () => !exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address: `${ip}:${options.port}`,
    process: child,
    async stop() {
      if (exited) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(killer);
    },
  };
}

export interface SupervisedDevServer {
  address: string;
  /** The server's current process (a new one after each restart). */
  process(): ChildProcess;
  /** How many times the server was started again after dying. */
  restarts(): number;
  stop(): Promise<void>;
}

/** A run shorter than this counts as a crash loop: the next restart waits longer. */
const HEALTHY_RUN_MS = 60_000;
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The dev server, started again whenever it dies (same SQLite file, so workflows resume), after
 * 0.5 s, doubling to 30 s while it keeps dying within a minute of starting — as `npm start` does
 * for the worker and the API.
 */
export async function superviseDevServer(options: DevServerOptions): Promise<SupervisedDevServer> {
  let server = await startDevServer(options);
  let startedAt = Date.now();
  let stopping = false;
  let restarts = 0;
  let streak = 0;

  const restart = async (code: number | null, signal: NodeJS.Signals | null) => {
    streak = Date.now() - startedAt < HEALTHY_RUN_MS ? streak + 1 : 0;
    while (!stopping) {
      const delay = Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** streak);
      options.log?.(`the Temporal dev server exited (${signal ?? `code ${code}`}); starting it again in ${delay} ms`);
      await sleep(delay);
      if (stopping) return;
      try {
        server = await startDevServer(options);
        startedAt = Date.now();
        restarts++;
        watch(server);
        options.log?.(`the Temporal dev server is back on ${server.address}`);
        return;
      } catch (err) {
        streak++;
        options.log?.(`the Temporal dev server did not start: ${(err as Error).message}`);
      }
    }
  };
  const watch = (s: DevServer) => s.process.once('exit', (code, signal) => void (stopping || restart(code, signal)));
  watch(server);

  return {
    address: server.address,
    process: () => server.process,
    restarts: () => restarts,
    async stop() {
      stopping = true;
      await server.stop();
    },
  };
}
