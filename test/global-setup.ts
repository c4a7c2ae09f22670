import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { createDb, createPool, ensureDatabaseExists } from '../src/db/database';
import type { EmbeddedPostgres } from '../src/db/embedded-postgres';
import { resolveDatabase } from '../src/db/local-postgres';
import { migrateToLatest } from '../src/db/migrate';
import { freePort, startDevServer } from '../src/temporal/dev-server';
import { waitForNamespace } from '../src/temporal/connection';
import { WORKFLOWS_PATH } from '../src/worker/create-worker';
import { ensureTemporalCli } from '../src/temporal/cli';
import { errorsOnlySdkLogger } from '../src/temporal/runtime-logger';
import { buildIdOf } from '../src/temporal/versioning';

/**
 * One real stack for the whole test run: a fresh PostgreSQL database, a Temporal dev server on
 * free ports (headless, its own SQLite file) and the workflow bundle built once.
 */
export default async function globalSetup(): Promise<void> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'runway-test-'));
  const { server: base, embedded } = await databaseServer(workDir);
  const databaseUrl = `${base}/runway_test_${Date.now()}_${process.pid}`;
  await ensureDatabaseExists(databaseUrl);
  const pool = createPool(databaseUrl, 2);
  await migrateToLatest(createDb(pool));
  await pool.end();

  await ensureTemporalCli((msg) => process.stdout.write(`${msg}\n`));
  const port = await freePort();
  const server = await startDevServer({ port, uiPort: null, namespace: 'runway', dataDir: path.join(workDir, 'temporal') });
  await waitForNamespace(server.address, 'runway');

  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: errorsOnlySdkLogger });
  const bundlePath = path.join(workDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);

  Object.assign(process.env, {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: 'runway',
    RUNWAY_DATA_DIR: path.join(workDir, 'data'),
    RUNWAY_TEST_WORKDIR: workDir,
    RUNWAY_TEST_BUNDLE: bundlePath,
    // Every worker of the run, in this process or spawned, is one build of its task queue's deployment.
    RUNWAY_BUILD_ID: process.env.RUNWAY_BUILD_ID ?? buildIdOf({ promote: true }),
    RUNWAY_LOG_LEVEL: process.env.RUNWAY_LOG_LEVEL ?? 'warn',
  });
  (globalThis as Record<string, unknown>).__runwayTestStack = { server, databaseUrl, workDir, embedded };
}

/**
 * The PostgreSQL server the suite makes its database on: RUNWAY_TEST_DATABASE_BASE, else the
 * one `npm start` would use (the machine's own, or an embedded one in the work folder, stopped
 * by the teardown).
 */
async function databaseServer(workDir: string): Promise<{ server: string; embedded?: EmbeddedPostgres }> {
  if (process.env.RUNWAY_TEST_DATABASE_BASE) return { server: process.env.RUNWAY_TEST_DATABASE_BASE };
  chmodSync(workDir, 0o711); // an embedded server runs as the postgres user when we are root
  const config = loadConfig({ ...process.env, RUNWAY_DATA_DIR: path.join(workDir, 'data') });
  const { url, embedded } = await resolveDatabase(config, (msg) => process.stdout.write(`${msg}\n`), true);
  const server = new URL(url);
  server.pathname = '';
  return { server: server.toString().replace(/\/$/, ''), embedded };
}

