import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import request from 'supertest';
import { bearer, createAccount, expectLedgerConsistent, startRun, waitForRun } from './helpers/api';
import { databaseDump } from './helpers/database-dump';
import { FakeOpenAi } from './helpers/fake-openai';
import { spawnApi, spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';
import { decodedStrings } from './helpers/temporal-history';
import { ensureTemporalCli } from '../src/temporal/cli';

const run = promisify(execFile);
const MODEL = 'openai/test-model';
const hex = () => randomBytes(12).toString('hex');

/**
 * The platform's real processes (API and worker, debug logging) handle runs that carry a
 * transient key; afterwards the key is searched for in a pg_dump of the database, in both
 * processes' output and in every run's Temporal history.
 */
let stack: TestStack;
let client: TestStack; // the helpers, pointed at the API process
let api: (PlatformProcess & { baseUrl: string }) | undefined;
let worker: PlatformProcess | undefined;
const fake = new FakeOpenAi();

beforeAll(async () => {
  await fake.start();
  const env = {
    RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
    RUNWAY_PRICES: JSON.stringify({ [MODEL]: { input: 1000, output: 1000 } }),
  };
  stack = await startStack({ worker: false, env });
  const processEnv = { ...stackEnv(stack), ...env, RUNWAY_LOG_LEVEL: 'debug' };
  [api, worker] = await Promise.all([spawnApi(processEnv), spawnWorker(processEnv)]);
  client = { ...stack, http: request(api.baseUrl) };
}, 120_000);

afterAll(async () => {
  await Promise.all([api?.kill(), worker?.kill()]);
  await stack?.stop();
  await fake.stop();
});


describe('a run’s transient API key', () => {
  const runIds: string[] = [];
  /** Distinctive pieces of every key used; none may be found anywhere afterwards. */
  const needles: string[] = [];
  const prompts: string[] = [];

  async function keyedRun(key: string, prompt: string) {
    const account = await createAccount(client, 1000);
    const res = await startRun(client, account, { prompt, model: MODEL, maxTokens: 20, secrets: { apiKey: key } });
    expect(res.status).toBe(202);
    runIds.push(res.body.id);
    prompts.push(prompt);
    return { account, run: await waitForRun(client, account, res.body.id) };
  }

  test('reaches the provider’s Authorization header, also on a retried attempt and on POST /retry', async () => {
    const key = `sk-test-${hex()}`;
    needles.push(key);
    const first = fake.requests.length;
    fake.enqueue({ kind: 'status', status: 503 }, { kind: 'stream', tokens: ['fine'] });
    const { account, run } = await keyedRun(key, `retried prompt ${hex()}`);
    expect(run.status).toBe('succeeded');
    expect(run.attempt).toBe(2);
    expect(fake.requests.slice(first).map((r) => r.authorization)).toEqual([`Bearer ${key}`, `Bearer ${key}`]);

    // A retry of the run brings its own key (secrets are never kept to be replayed).
    const retryKey = `sk-retry-${hex()}`;
    needles.push(retryKey);
    const retried = await client.http.post(`/v1/runs/${run.id}/retry`).set(bearer(account)).send({ secrets: { apiKey: retryKey } });
    expect(retried.status).toBe(202);
    runIds.push(retried.body.id);
    expect((await waitForRun(client, account, retried.body.id)).status).toBe('succeeded');
    expect(fake.requests.at(-1)?.authorization).toBe(`Bearer ${retryKey}`);
    await expectLedgerConsistent(client, account);
  });

  test('is scrubbed from a provider error that echoes it', async () => {
    const key = `sk-echoed-${hex()}`;
    needles.push(key);
    fake.enqueue({ kind: 'status', status: 401, echoAuthorization: true });
    const { run } = await keyedRun(key, `echo prompt ${hex()}`);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('provider_http_401');
    expect(run.error?.message).toContain('Incorrect API key provided: Bearer [redacted]');
  });

  test('a key HTTP cannot carry is refused up front with a 400 that does not quote it', async () => {
    const [head, tail] = [hex(), hex()];
    needles.push(head, tail);
    const account = await createAccount(client, 1000);
    const res = await startRun(client, account, { prompt: 'bad key', model: MODEL, maxTokens: 20, secrets: { apiKey: `sk-${head}\n${tail}` } });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'secrets.apiKey', message: 'must be visible ASCII characters' }]);
    expect(JSON.stringify(res.body)).not.toContain(head);
  });

  test('a scoped token in ?access_token= (accepted or refused) is not logged either', async () => {
    const account = await createAccount(client, 1000);
    const prompt = `followed ${hex()}`;
    const started = await startRun(client, account, { prompt, model: MODEL, maxTokens: 20 });
    expect(started.status).toBe(202);
    runIds.push(started.body.id);
    prompts.push(prompt);
    await waitForRun(client, account, started.body.id);
    const token = started.body.publicAccessToken as string;
    needles.push(token.split('.')[2]!);
    const followed = await fetch(`${api!.baseUrl}/v1/runs/${started.body.id}/events?access_token=${token}`);
    expect(followed.status).toBe(200);
    await followed.text();
    const forged = `${token.slice(0, -4)}AAAA`;
    needles.push(forged.split('.')[2]!);
    expect((await fetch(`${api!.baseUrl}/v1/runs/${started.body.id}/events?access_token=${forged}`)).status).toBe(401);
  });

  test('is found nowhere: not in pg_dump, not in the processes’ logs, not in Temporal history', async () => {
    expect(runIds).toHaveLength(4);
    const dump = await databaseDump(process.env.DATABASE_URL as string, ['--no-owner']);
    for (const id of runIds) expect(dump).toContain(id); // the dump has the runs…
    const logs = `${api?.output() ?? ''}\n${worker?.output() ?? ''}`;
    expect(logs).toContain('"msg":"request"'); // …the logs are at debug level…
    const cli = await ensureTemporalCli();
    const histories: string[] = [];
    for (const id of runIds) {
      const { stdout } = await run(
        cli,
        ['workflow', 'show', '-w', id, '--address', stack.config.temporal.address, '--namespace', stack.config.temporal.namespace, '--output', 'json'],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      histories.push(decodedStrings(stdout));
    }
    const history = histories.join('\n');
    for (const prompt of prompts) expect(history).toContain(prompt); // …and the history is readable
    expect(history).toContain('sealedSecrets');

    const places = { 'pg_dump': dump, 'process logs': logs, 'Temporal history': history };
    const found = needles.flatMap((needle) =>
      Object.entries(places)
        .filter(([, text]) => text.includes(needle))
        .map(([place]) => `${needle} in ${place}`),
    );
    expect(found).toEqual([]);
  });
});
