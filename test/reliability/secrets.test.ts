import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../../src/temporal/cli';
import { createAccount, type TestAccount } from '../helpers/api';
import { databaseDump } from '../helpers/database-dump';
import { FakeOpenAi } from '../helpers/fake-openai';
import { createFixtureRepo } from '../helpers/git-repos';
import { spawnApi, spawnWorker, stackEnv, type PlatformProcess } from '../helpers/processes';
import { startStack, type TestStack } from '../helpers/stack';
import { decodedStrings } from '../helpers/temporal-history';
import { checkInvariants, waitUntilIdle } from './invariants';
import { report, size } from './mode';

/**
 * Scenario 7, secrets (issue #19): a marker key sent with runs (with and without a workspace)
 * and with session requests reaches the model provider and nothing else: not a pg_dump, not any
 * process's log (debug level), not `temporal workflow show` of any of the account's workflows,
 * not a file under the workspaces folder, not an API response.
 */
const RUNS = size(4, 20);
const run = promisify(execFile);

let stack: TestStack;
let api: PlatformProcess & { baseUrl: string };
let worker: PlatformProcess;
let account: TestAccount;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['ok'], delayMs: 5 });
const MARKER = `sk-marker-${randomBytes(16).toString('hex')}`;
const responses: string[] = [];
const repos = mkdtempSync(path.join(os.tmpdir(), 'runway-secrets-repos-'));

beforeAll(async () => {
  await fake.start();
  createFixtureRepo(repos);
  // Workspaces kept, so that their files are there to be searched.
  const env = { RUNWAY_OPENAI_BASE_URL: fake.baseUrl, RUNWAY_LOG_LEVEL: 'debug', RUNWAY_LOCAL_REPOS_ROOT: repos, RUNWAY_KEEP_WORKSPACES: 'true' };
  stack = await startStack({ worker: false, env });
  [api, worker] = await Promise.all([spawnApi({ ...stackEnv(stack), ...env, RUNWAY_LOG_LEVEL: 'debug' }), spawnWorker({ ...stackEnv(stack), ...env, RUNWAY_LOG_LEVEL: 'debug' })]);
  account = await createAccount(stack, 1_000_000, { maxActiveRuns: 100 });
}, 120_000);
afterAll(async () => {
  await Promise.all([api?.kill(), worker?.kill()]);
  await stack.stop();
  await fake.stop();
  rmSync(repos, { recursive: true, force: true });
});

async function call(method: string, p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${api.baseUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  responses.push(text);
  const json = res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {};
  return { status: res.status, json };
}

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out; // nothing there (workspaces removed after their runs)
  }
  for (const name of entries) {
    const full = path.join(dir, name);
    const st = statSync(full, { throwIfNoEntry: false });
    if (st?.isDirectory()) out = out.concat(filesUnder(full));
    else if (st?.isFile() && st.size < 10 * 1024 * 1024) out.push(full);
  }
  return out;
}

test('a run key reaches the provider and appears nowhere else', async () => {
  const runIds: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const created = await call('POST', '/v1/runs', { prompt: `secret run ${i}`, model: 'openai/gpt-4o-mini', maxTokens: 8, secrets: { apiKey: MARKER } });
    expect(created.status).toBe(202);
    runIds.push(created.json.id as string);
  }
  // Its setup writes its whole environment into the checkout: the key must not be in it.
  const workspaceRun = await call('POST', '/v1/runs', {
    prompt: 'secret workspace run',
    model: 'openai/gpt-4o-mini',
    maxTokens: 8,
    secrets: { apiKey: MARKER },
    workspace: { repo: path.join(repos, 'app.git'), setup: ['env > env.txt', 'ls -la > listing.txt'] },
  });
  expect(workspaceRun.status).toBe(202);
  runIds.push(workspaceRun.json.id as string);
  const session = await call('POST', '/v1/sessions', { model: 'openai/gpt-4o-mini', maxTokens: 8 });
  const asked = await call('POST', `/v1/sessions/${session.json.id}/requests`, { prompt: 'secret turn', secrets: { apiKey: MARKER } });
  expect(asked.status).toBe(202);
  await waitUntilIdle(stack.db, [account.id], 60_000);
  expect((await call('DELETE', `/v1/sessions/${session.json.id}`)).status).toBe(202);
  await waitUntilIdle(stack.db, [account.id], 60_000);

  // The key did its job: the provider saw it.
  expect(fake.requests.filter((r) => r.authorization === `Bearer ${MARKER}`).length).toBe(RUNS + 2);
  // Everything a client can read about them.
  for (const id of [...runIds, asked.json.runId as string]) {
    await call('GET', `/v1/runs/${id}`);
    await call('GET', `/v1/runs/${id}/events`);
  }
  await call('GET', '/v1/runs?limit=100');
  await call('GET', `/v1/sessions/${session.json.id}`);
  await call('GET', `/v1/sessions/${session.json.id}/events`);
  await call('GET', '/v1/account/ledger?limit=100');

  const cli = await ensureTemporalCli();
  const workflows: string[] = [];
  for await (const w of stack.temporal.workflow.list({ query: `RunwayAccount = '${account.id}'` })) workflows.push(w.workflowId);
  expect(workflows.length).toBeGreaterThanOrEqual(RUNS + 2);
  const histories: string[] = [];
  for (const id of workflows) {
    const { stdout } = await run(cli, ['workflow', 'show', '-w', id, '--address', stack.config.temporal.address, '--namespace', stack.config.temporal.namespace, '--output', 'json'], { maxBuffer: 64 * 1024 * 1024 });
    histories.push(decodedStrings(stdout));
  }
  const files = filesUnder(stack.config.workspacesDir);
  expect(files.some((f) => f.endsWith('env.txt'))).toBe(true);
  const workspaceFiles = files.map((f) => readFileSync(f, 'latin1')).join('\n');
  const places: Record<string, string> = {
    'pg_dump': await databaseDump(stack.config.databaseUrl),
    'API log': api.output(),
    'worker log': worker.output(),
    'Temporal histories': histories.join('\n'),
    'workspaces folder': workspaceFiles,
    'API responses': responses.join('\n'),
  };
  expect(places['worker log']).toContain('"level":20'); // debug lines were written
  expect(Object.entries(places).filter(([, text]) => text.includes(MARKER)).map(([place]) => place)).toEqual([]);
  const invariants = await checkInvariants(stack, [account.id]);
  expect(invariants.violations).toEqual([]);
  report('secrets', { runs: RUNS + 2, workflows: workflows.length, placesSearched: Object.keys(places), bytesSearched: Object.values(places).reduce((n, t) => n + t.length, 0) });
}, size(180_000, 600_000));
