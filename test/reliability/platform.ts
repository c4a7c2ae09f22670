import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForNamespace } from '../../src/temporal/connection';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { spawnApi, spawnWorker, stackEnv, type PlatformProcess } from '../helpers/processes';
import { startStack, type TestStack } from '../helpers/stack';

/**
 * A whole platform for a reliability scenario: its own Temporal dev server (so it can be killed),
 * the in-process stack (API + database access, no worker), and real worker and API processes
 * that a scenario kills and starts again.
 */
export class ChaosPlatform {
  stack!: TestStack;
  temporal!: DevServer;
  readonly workers: PlatformProcess[] = [];
  readonly apis: (PlatformProcess & { baseUrl: string })[] = [];
  private port = 0;
  private readonly dataDir = mkdtempSync(path.join(os.tmpdir(), 'runway-chaos-'));
  private env: Record<string, string> = {};

  async start(env: Record<string, string>): Promise<void> {
    this.port = await freePort();
    this.temporal = await this.bootTemporal();
    this.env = { ...env, TEMPORAL_ADDRESS: this.temporal.address };
    this.stack = await startStack({ worker: false, env: this.env });
  }

  /** The environment a spawned process of this platform gets. */
  processEnv(extra: Record<string, string> = {}): Record<string, string> {
    return { ...stackEnv(this.stack), RUNWAY_LOG_LEVEL: 'warn', ...this.env, ...extra };
  }

  async addWorker(): Promise<PlatformProcess> {
    const worker = await spawnWorker({ ...this.processEnv(), RUNWAY_LOG_LEVEL: 'info' });
    this.workers.push(worker);
    return worker;
  }

  async addApi(): Promise<PlatformProcess & { baseUrl: string }> {
    const api = await spawnApi(this.processEnv());
    this.apis.push(api);
    return api;
  }

  /** SIGKILLs the oldest live worker and starts a new one. */
  async killWorker(): Promise<void> {
    const victim = this.workers.find((w) => w.child.exitCode === null && w.child.signalCode === null);
    await victim?.kill('SIGKILL');
    await this.addWorker();
  }

  /** SIGKILLs an API process and starts it again on the same port. */
  async killApi(index = 0): Promise<void> {
    const victim = this.apis[index]!;
    await victim.kill('SIGKILL');
    const port = new URL(victim.baseUrl).port;
    this.apis[index] = await spawnApiOn(this.processEnv(), Number(port));
  }

  /** Stops the Temporal server (its process exits) and starts it again on the same SQLite file. */
  async restartTemporal(downMs = 1000): Promise<void> {
    await this.temporal.stop();
    await sleep(downMs);
    this.temporal = await this.bootTemporal();
  }

  async stop(): Promise<void> {
    for (const p of [...this.workers, ...this.apis]) await p.kill('SIGKILL');
    await this.stack?.stop();
    await this.temporal?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async bootTemporal(): Promise<DevServer> {
    const server = await startDevServer({ port: this.port, uiPort: null, namespace: 'runway', dataDir: this.dataDir });
    await waitForNamespace(server.address, 'runway');
    return server;
  }
}

/** spawnApi picks a free port; a restarted API keeps its port, as a load balancer's target would. */
export async function spawnApiOn(env: Record<string, string>, port: number): Promise<PlatformProcess & { baseUrl: string }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const api = await spawnApi({ ...env, PORT: String(port) });
      return api;
    } catch (err) {
      if (attempt >= 5) throw err; // the port is still held by the dying process: try again
      await sleep(500);
    }
  }
}

/**
 * A client that survives a dead API: each call goes to one API after another until one answers
 * something else than a network error or a 502/503, with the same Idempotency-Key every time.
 */
export async function resilientFetch(urls: () => string[], pathAndQuery: string, init: RequestInit, attempts = 20): Promise<Response> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const list = urls();
    const base = list[i % list.length]!;
    try {
      const res = await fetch(`${base}${pathAndQuery}`, { ...init, signal: AbortSignal.timeout(10_000) });
      if (res.status !== 502 && res.status !== 503) return res;
      lastError = new Error(`HTTP ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await sleep(Math.min(2000, 100 * 2 ** i));
  }
  throw new Error(`no API answered ${pathAndQuery}: ${String(lastError)}`);
}
