import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { Client } from '@temporalio/client';
import type { Db } from '../../src/db/database';
import { connectClient, waitForNamespace } from '../../src/temporal/connection';
import type { DevServer } from '../../src/temporal/dev-server';
import { FakeOpenAi } from '../../test/helpers/fake-openai';
import type { Cleanup } from './cleanup';
import type { ProcessMap } from './cpu-meter';
import { cpuProfileFlag } from './cpu-profile';
import { createBenchDatabase } from './database';
import { startBenchMcpServer } from './mcp-server';
import { gcProbeEnv } from './gc-probe';
import { startApi, startBenchWorker, startPlatformWorker, stopProcess, type PlatformProcess } from './processes';
import { startBenchTemporal } from './temporal-server';

export interface StackNeeds {
  /** Start a platform worker with this RUNWAY_DEMO_DELAY_MS (omit: no platform worker). */
  platformWorkerDelayMs?: number;
  benchWorker?: boolean;
  /**
   * An OpenAI-compatible model server in the bench process (the test suite's fake), which the
   * platform knows as BENCH_AGENT_MODEL and which the bench scripts; and an MCP server on
   * 127.0.0.1 whose tool answers at once (RUNWAY_MCP_ALLOW_PRIVATE=true lets runs call it).
   */
  fakeModel?: boolean;
}

/** The model id the fake model server answers as (priced through RUNWAY_PRICES). */
export const BENCH_AGENT_MODEL = 'openai/bench-agent';

export interface BenchStack {
  db: Db;
  databaseUrl: string;
  temporal: Client;
  api: PlatformProcess & { baseUrl: string };
  platformTaskQueue: string;
  benchTaskQueue: string;
  /** (Re)starts the platform worker with the given demo delay, unless one with it is running. */
  ensurePlatformWorker(demoDelayMs: number): Promise<void>;
  ensureBenchWorker(): Promise<void>;
  /** The stack's processes by component, for CPU accounting. */
  processes: ProcessMap;
  /** The fake model server, when a bench asked for one. */
  model: FakeOpenAi | undefined;
  /** The bench's MCP server (plain http on 127.0.0.1), with the fake model. */
  mcpUrl: string | undefined;
}

const NAMESPACE = 'runway';

/**
 * The real local stack, all of it the bench's own: a headless Temporal dev server on a free port
 * with its data in a temporary folder, a fresh PostgreSQL database, and the API and workers as
 * separate processes. Everything started is registered with `cleanup`, which stops it in reverse.
 */
export async function startBenchStack(
  needs: StackNeeds,
  cleanup: Cleanup,
  log: (msg: string) => void,
): Promise<BenchStack> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'runway-bench-'));
  cleanup.add('work dir', async () => rmSync(workDir, { recursive: true, force: true }));

  log('creating a fresh database and starting a Temporal dev server');
  const database = await createBenchDatabase();
  cleanup.add('database', () => database.drop());
  const server: DevServer = await startBenchTemporal({ dataDir: path.join(workDir, 'temporal'), namespace: NAMESPACE, log });
  cleanup.add('temporal dev server', () => server.stop());
  await waitForNamespace(server.address, NAMESPACE);
  const temporal = await connectClient(server.address, NAMESPACE);
  cleanup.add('temporal client', () => temporal.connection.close());

  const model = needs.fakeModel ? await startFakeModel(cleanup) : undefined;
  const mcp = needs.fakeModel ? await startBenchMcpServer() : undefined;
  if (mcp) cleanup.add('bench MCP server', mcp.stop);

  const platformTaskQueue = 'runway-bench-platform';
  const benchTaskQueue = 'runway-bench-floor';
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: NAMESPACE,
    RUNWAY_TASK_QUEUE: platformTaskQueue,
    RUNWAY_DATA_DIR: path.join(workDir, 'data'),
    RUNWAY_ADMIN_TOKEN: `bench-${randomBytes(12).toString('hex')}`,
    RUNWAY_SECRETS_KEY: randomBytes(32).toString('base64'),
    RUNWAY_LOG_LEVEL: 'info', // the worker's readiness line is at info; neither process logs per request
    RUNWAY_MAX_ACTIVE_RUNS: '1000000',
    // The stream benches hold up to 1,000 streams of one account on one API process.
    RUNWAY_MAX_STREAMS_PER_ACCOUNT: '100000',
    RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true', // the webhooks bench's receiver is on 127.0.0.1
    BENCH_TASK_QUEUE: benchTaskQueue,
    ...(model ? { RUNWAY_OPENAI_BASE_URL: model.baseUrl, RUNWAY_PRICES: JSON.stringify({ [BENCH_AGENT_MODEL]: { input: 100, output: 1000 } }) } : {}),
    ...(mcp ? { RUNWAY_MCP_ALLOW_PRIVATE: 'true' } : {}),
  };
  const profile = cpuProfileFlags(workDir, log);
  if (profile) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${profile}`.trim();

  let platformWorker: { proc: PlatformProcess; delayMs: number } | undefined;
  let benchWorker: PlatformProcess | undefined;
  const launchPlatformWorker = async (delayMs: number) => {
    const proc = await startPlatformWorker({ ...env, RUNWAY_DEMO_DELAY_MS: String(delayMs) });
    platformWorker = { proc, delayMs };
  };
  const launchBenchWorker = async () => {
    benchWorker = await startBenchWorker(env);
  };
  // Workers are stopped before the API, the API before the server (cleanup runs in reverse).
  let api: (PlatformProcess & { baseUrl: string }) | undefined;
  cleanup.add('api', async () => (api ? stopProcess(api) : undefined));
  cleanup.add('platform worker', async () => (platformWorker ? stopProcess(platformWorker.proc) : undefined));
  cleanup.add('bench worker', async () => (benchWorker ? stopProcess(benchWorker) : undefined));

  log('starting the API and worker processes');
  const started = await Promise.allSettled([
    // The API carries the memory probe (a full GC and a reading on SIGUSR2) for the memory bench.
    startApi(withProfile({ ...env, ...gcProbeEnv(workDir) }, profile)).then((proc) => void (api = proc)),
    needs.platformWorkerDelayMs !== undefined ? launchPlatformWorker(needs.platformWorkerDelayMs) : undefined,
    needs.benchWorker ? launchBenchWorker() : undefined,
  ]);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  if (!api) throw new Error('the API did not start');
  const apiProcess = api;

  return {
    db: database.db,
    databaseUrl: database.url,
    temporal,
    api: apiProcess,
    platformTaskQueue,
    benchTaskQueue,
    async ensurePlatformWorker(delayMs) {
      if (platformWorker?.delayMs === delayMs && platformWorker.proc.child.exitCode === null) return;
      if (platformWorker) {
        log(`restarting the platform worker with RUNWAY_DEMO_DELAY_MS=${delayMs}`);
        await stopProcess(platformWorker.proc);
        platformWorker = undefined;
      }
      await launchPlatformWorker(delayMs);
    },
    async ensureBenchWorker() {
      if (!benchWorker || benchWorker.child.exitCode !== null) await launchBenchWorker();
    },
    model,
    mcpUrl: mcp?.url,
    processes: async () => {
      const backends = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(database.db);
      const pids = (p: PlatformProcess | undefined) => (p?.child.pid ? [p.child.pid] : []);
      return {
        temporal: server.process.pid ? [server.process.pid] : [],
        api: pids(apiProcess),
        worker: pids(platformWorker?.proc),
        'bench-worker': pids(benchWorker),
        'bench (clients)': [process.pid],
        postgres: backends.rows.map((r) => r.pid),
      };
    },
  };
}

async function startFakeModel(cleanup: Cleanup): Promise<FakeOpenAi> {
  const model = new FakeOpenAi({ kind: 'stream', tokens: ['unscripted'] });
  await model.start();
  cleanup.add('fake model server', () => model.stop());
  return model;
}

/**
 * BENCH_CPU_PROF=DIR: the API and worker processes write V8 CPU profiles to DIR when they stop
 * (open them in Chrome DevTools or speedscope), to find where a bench's time goes.
 */
function cpuProfileFlags(workDir: string, log: (msg: string) => void): string {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return '';
  log(`the API and worker processes write CPU profiles to ${path.resolve(dir)} when they stop`);
  return cpuProfileFlag(workDir, dir);
}

/** The API's NODE_OPTIONS carry the memory probe already: the profile flags are added to them. */
function withProfile(env: Record<string, string>, profile: string): Record<string, string> {
  return profile ? { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} ${profile}`.trim() } : env;
}
