import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { runningEmbeddedPostgres } from '../src/db/embedded-postgres';
import { freePort } from '../src/temporal/dev-server';
import { isTerminal } from '../workflows/run-vocabulary';

/**
 * `npm start` on a machine without PostgreSQL (issue #20): with RUNWAY_POSTGRES=embedded it
 * starts a real embedded server under the data folder (as root here, so as the postgres user),
 * the platform runs on it, the admin CLI finds it, a second start keeps the data, and shutdown
 * stops it. The namespace it creates gets Runway's retention.
 */
const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);
const PLATFORM_SECRET = 'sk-platform-secret-not-for-postgres';

interface Platform {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function platformEnv(dataDir: string, ports: { api: number; temporal: number; ui: number }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    RUNWAY_POSTGRES: 'embedded',
    RUNWAY_DATA_DIR: dataDir,
    PORT: String(ports.api),
    TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
    TEMPORAL_UI_PORT: String(ports.ui),
    RUNWAY_LOG_LEVEL: 'info',
    RUNWAY_DEMO_DELAY_MS: '5',
    RUNWAY_WORKER_METRICS_PORT: '0',
    // A platform secret in npm start's environment: the database's processes must not hold it.
    RUNWAY_OPENAI_API_KEY: PLATFORM_SECRET,
  };
  // The suite's own database and admin secrets must not leak in: this platform decides its own.
  for (const name of ['DATABASE_URL', 'RUNWAY_ADMIN_TOKEN', 'RUNWAY_SECRETS_KEY', 'RUNWAY_TASK_QUEUE']) delete env[name];
  return env;
}

async function startPlatform(env: NodeJS.ProcessEnv): Promise<Platform> {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/bin/start.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const platform: Platform = {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${env.PORT}/readyz`).then((r) => r.ok, () => false);
    if (ready) return platform;
    if (child.exitCode !== null || Date.now() > deadline) {
      await platform.stop();
      throw new Error(`npm start did not get ready:\n${output}`);
    }
    await sleep(250);
  }
}

describe('npm start with an embedded PostgreSQL', () => {
  let dataDir: string;
  let platform: Platform | undefined;

  beforeAll(() => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'runway-embedded-'));
    chmodSync(parent, 0o711); // the server runs as the postgres user when the suite runs as root
    dataDir = path.join(parent, 'data');
  });
  afterAll(async () => {
    await platform?.stop();
    rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  test('runs the platform on it, lets the admin CLI find it, keeps the data across a restart and stops it on shutdown', async () => {
    const env = platformEnv(dataDir, { api: await freePort(), temporal: await freePort(), ui: await freePort() });
    platform = await startPlatform(env);
    expect(platform.output()).toContain('creating an embedded one');
    expect(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    const url = await runningEmbeddedPostgres(dataDir);
    expect(url).not.toBeNull();
    expect(new URL(url!).port).not.toBe('5432');
    // Root runs it as the postgres user, who may pass through the data folder and nobody else may.
    const folder = statSync(dataDir);
    expect(folder.mode & 0o777).toBe(0o710);
    expect(folder.gid).toBe(Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
    const postmaster = Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const serverEnv = readFileSync(`/proc/${postmaster}/environ`, 'utf8');
    expect(serverEnv).toContain('PATH=');
    expect(serverEnv).not.toContain(PLATFORM_SECRET);
    // The namespace the platform's dev server created keeps histories as long as Runway keeps runs.
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
    const ns = await connection.workflowService.describeNamespace({ namespace: 'runway' }).finally(() => connection.close());
    expect(Number(ns.config?.workflowExecutionRetentionTtl?.seconds)).toBe(30 * 86_400);

    // The admin CLI, a separate process with no DATABASE_URL, finds the running embedded server.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/bin/admin.ts'), 'create-account', '--name', 'embedded', '--credits', '1000'], { cwd: ROOT, env });
    const account = JSON.parse(stdout) as { id: string; apiKey: string };
    const api = `http://127.0.0.1:${env.PORT}`;
    const auth = { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' };
    const started = await fetch(`${api}/v1/runs`, { method: 'POST', headers: auth, body: JSON.stringify({ prompt: 'hello embedded world', model: 'demo/echo', maxTokens: 16 }) });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const finished = await waitForStatus(api, auth, id);
    expect(finished).toMatchObject({ status: 'succeeded', output: 'hello embedded world' });

    // The row is in the embedded cluster's database.
    const client = new pg.Client({ connectionString: url! });
    await client.connect();
    const rows = await client.query('SELECT status FROM runs WHERE id = $1', [id]).finally(() => client.end());
    expect(rows.rows).toEqual([{ status: 'succeeded' }]);

    await platform.stop();
    expect(await runningEmbeddedPostgres(dataDir)).toBeNull();

    platform = await startPlatform(env);
    expect(platform.output()).not.toContain('creating an embedded one');
    expect(await waitForStatus(api, auth, id)).toMatchObject({ status: 'succeeded', output: 'hello embedded world' });
    expect(readFileSync(path.join(dataDir, 'postgres.password'), 'utf8').trim().length).toBeGreaterThanOrEqual(16);
    await platform.stop();
    expect(await runningEmbeddedPostgres(dataDir)).toBeNull();
    expect(platform.output()).not.toMatch(/done is not a function|UnhandledPromiseRejection/);
  }, 240_000);
});

/**
 * As root, with the data folder under a 700 parent (root's home; a `mktemp -d`), the postgres
 * user cannot reach it (issue #26): the cluster goes to a folder of its own under
 * /var/lib/runway, said in the log, and the data folder stays root's alone.
 */
describe('npm start as root with the data folder under a 700 parent', () => {
  let dataDir: string;
  let home: string | undefined;
  let platform: Platform | undefined;

  beforeAll(() => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'runway-private-')); // 700, as mktemp -d makes it
    dataDir = path.join(parent, 'data');
  });
  afterAll(async () => {
    await platform?.stop();
    rmSync(path.dirname(dataDir), { recursive: true, force: true });
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('starts without a setting, keeps the cluster where the postgres user can reach it and the data folder private', async () => {
    if (os.userInfo().uid !== 0) return; // the case is root's: others run the server as themselves
    expect(statSync(path.dirname(dataDir)).mode & 0o777).toBe(0o700);
    const env = platformEnv(dataDir, { api: await freePort(), temporal: await freePort(), ui: await freePort() });
    platform = await startPlatform(env);
    const where = /the embedded cluster is kept in ([^\s"]+)/.exec(platform.output())?.[1];
    expect(where).toMatch(/^\/var\/lib\/runway\/[0-9a-f]{16}\/postgres$/);
    home = path.dirname(where!);
    expect(existsSync(path.join(where!, 'PG_VERSION'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'postgres'))).toBe(false);
    // The data folder (keys, admin token) stays root's only; the cluster's folders let postgres pass, nobody else.
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(dataDir).gid).toBe(0);
    const postgresGid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    expect(statSync(home).mode & 0o777).toBe(0o710);
    expect(statSync(home).gid).toBe(postgresGid);
    expect(statSync('/var/lib/runway').mode & 0o777).toBe(0o711);
    expect(statSync(where!).mode & 0o777).toBe(0o700);

    // The admin CLI finds the server from the data folder alone, and a run goes through.
    expect(await runningEmbeddedPostgres(dataDir)).not.toBeNull();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/bin/admin.ts'), 'create-account', '--name', 'private', '--credits', '1000'], { cwd: ROOT, env });
    const account = JSON.parse(stdout) as { id: string; apiKey: string };
    const api = `http://127.0.0.1:${env.PORT}`;
    const auth = { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' };
    const started = await fetch(`${api}/v1/runs`, { method: 'POST', headers: auth, body: JSON.stringify({ prompt: 'hello from a private folder', model: 'demo/echo', maxTokens: 16 }) });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    expect(await waitForStatus(api, auth, id)).toMatchObject({ status: 'succeeded', output: 'hello from a private folder' });

    // A second start finds the same cluster, with the data.
    await platform.stop();
    expect(await runningEmbeddedPostgres(dataDir)).toBeNull();
    platform = await startPlatform(env);
    expect(platform.output()).not.toContain('creating an embedded one');
    expect(await waitForStatus(api, auth, id)).toMatchObject({ status: 'succeeded' });
    await platform.stop();
  }, 240_000);
});

async function waitForStatus(api: string, headers: Record<string, string>, id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = (await (await fetch(`${api}/v1/runs/${id}`, { headers })).json()) as Record<string, unknown>;
    if (isTerminal(run.status as string) || Date.now() > deadline) return run;
    await sleep(100);
  }
}
