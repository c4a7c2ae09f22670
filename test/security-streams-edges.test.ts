import type { AddressInfo } from 'node:net';
import net from 'node:net';
import http, { type Server } from 'node:http';
import Koa from 'koa';
import request from 'supertest';
import { createApp } from '../src/api/app';
import { answerClientErrorsWithProblems, limitRequestArrival } from '../src/api/client-errors';
import { apiDepsFor, type ApiDeps } from '../src/api/deps';
import { routerOf, type ApiServices } from '../src/api/endpoint';
import { healthEndpoints } from '../src/api/routes/health';
import { createDb, createPool } from '../src/db/database';
import { bearer, createAccount, startRun, type TestAccount } from './helpers/api';
import { SseConnection } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

/**
 * Issue #26, slice e: a token's open event streams end with the token (revoke-all, exp), and
 * what the API tells those it should not tell: token callers' 402/429 bodies, webhook
 * registration errors, /readyz; and request bodies must arrive in time.
 */
const PROBLEM = 'https://runway.dev/problems/';
const BODY_TIMEOUT_MS = 1000;
let stack: TestStack;
const tag = () => Math.random().toString(36).slice(2, 8);
const asToken = (token: string) => ({ authorization: `Bearer ${token}` });
/** demo/echo sends a word every 100 ms: 600 words keep a run going for about a minute. */
const longPrompt = () => `${tag()} ${Array.from({ length: 600 }, (_, i) => `w${i}`).join(' ')}`;

beforeAll(async () => {
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '100', RUNWAY_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) } });
});
afterAll(async () => {
  await stack?.stop();
});

async function issue(account: TestAccount, body: Record<string, unknown>): Promise<string> {
  const res = await stack.http.post('/v1/tokens').set(bearer(account)).send(body);
  if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

/** A demo/echo run that lasts about a minute; stopped by the test when done with it. */
async function longRun(account: TestAccount, extra: Record<string, unknown> = {}) {
  const res = await startRun(stack, account, { prompt: longPrompt(), model: 'demo/echo', maxTokens: 1000, ...extra });
  expect(res.status).toBe(202);
  return res.body as { id: string; publicAccessToken: string };
}

const stop = (account: TestAccount, id: string) => stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account)).send({});

/** Resolves with how long the server took to end the stream, or rejects after `timeoutMs`. */
async function endedWithin(conn: SseConnection, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await conn.finished(timeoutMs);
  return Date.now() - started;
}

/** A second API process in all but the process: its own hub, LISTEN connection and port. */
async function secondApi(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const { config, db, temporal, logger, secretsKey, adminToken } = stack.apiDeps;
  const deps: ApiDeps = apiDepsFor({ config, db, temporal, logger, secretsKey, adminToken });
  const server: Server = await new Promise((resolve) => {
    const s = createApp(deps).listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await deps.events.close();
      await deps.launcher.close();
      await deps.listener.close();
    },
  };
}

describe('a scoped token\'s open event streams end with the token', () => {
  test('revoke-all ends them within seconds in every API process; the account key\'s stream goes on', async () => {
    const account = await createAccount(stack, 100_000);
    const run = await longRun(account);
    const other = await secondApi();
    const streams: SseConnection[] = [];
    try {
      const url = (base: string) => `${base}/v1/runs/${run.id}/events`;
      const byRunToken = await SseConnection.open(url(stack.baseUrl), asToken(run.publicAccessToken));
      const elsewhere = await SseConnection.open(url(other.baseUrl), asToken(run.publicAccessToken));
      const byKey = await SseConnection.open(url(stack.baseUrl), bearer(account));
      streams.push(byRunToken, elsewhere, byKey);
      expect([byRunToken.status, elsewhere.status, byKey.status]).toEqual([200, 200, 200]);
      for (const s of [byRunToken, elsewhere, byKey]) await s.waitFor((m) => m.some((e) => e.type === 'delta'));

      const revoked = await stack.http.post('/v1/tokens/revoke-all').set(bearer(account));
      expect(revoked.status).toBe(200);
      const took = await Promise.all([endedWithin(byRunToken, 5000), endedWithin(elsewhere, 5000)]);
      expect(Math.max(...took)).toBeLessThan(5000);
      expect(byRunToken.comments).toContain('token revoked');

      // The account's own stream is not affected: it keeps receiving the run's output.
      const seen = byKey.messages.length;
      await byKey.waitFor((m) => m.length > seen + 3);
      expect(byKey.endedByServer).toBe(false);
      // And the token cannot open a new one.
      const again = await SseConnection.open(url(stack.baseUrl), asToken(run.publicAccessToken));
      expect(again.status).toBe(401);
    } finally {
      streams.forEach((s) => s.close());
      await stop(account, run.id);
      await other.close();
    }
  }, 60_000);

  test('a user token\'s stream of its own user\'s run ends at revoke-all too', async () => {
    const account = await createAccount(stack, 100_000);
    const run = await longRun(account, { user: 'u2' });
    const userToken = await issue(account, { scope: { user: 'u2' }, permissions: ['read'] });
    const conn = await SseConnection.open(`${stack.baseUrl}/v1/runs/${run.id}/events?access_token=${encodeURIComponent(userToken)}`, {});
    try {
      expect(conn.status).toBe(200);
      await conn.waitFor((m) => m.some((e) => e.type === 'delta'));
      await stack.http.post('/v1/tokens/revoke-all').set(bearer(account));
      expect(await endedWithin(conn, 5000)).toBeLessThan(5000);
    } finally {
      conn.close();
      await stop(account, run.id);
    }
  }, 60_000);

  test('a stream ends at its token\'s exp', async () => {
    const account = await createAccount(stack, 100_000);
    const run = await longRun(account);
    const token = await issue(account, { scope: { runs: [run.id] }, permissions: ['read'], expiresIn: 3 });
    const opened = Date.now();
    const conn = await SseConnection.open(`${stack.baseUrl}/v1/runs/${run.id}/events`, asToken(token));
    try {
      expect(conn.status).toBe(200);
      await conn.finished(10_000);
      const lasted = Date.now() - opened;
      // exp is whole seconds: 2 to 3 s after issue; the run itself goes on for a minute.
      expect(lasted).toBeGreaterThan(1500);
      expect(lasted).toBeLessThan(6000);
      expect(conn.comments).toContain('token expired');
      expect(conn.messages.some((m) => m.type === 'delta')).toBe(true);
      expect(conn.messages.some((m) => m.type === 'end')).toBe(false);
    } finally {
      conn.close();
      await stop(account, run.id);
    }
  }, 60_000);
});

describe('402 and 429 answers tell a token\'s holder nothing of the account', () => {
  test('insufficient credits: no balance for a token caller, the balance for the account key', async () => {
    const account = await createAccount(stack, 3);
    const token = await issue(account, { scope: { user: 'u' }, permissions: ['read', 'create'] });
    const body = { prompt: 'too expensive for this account', model: 'demo/echo', maxTokens: 100 };
    const byToken = await stack.http.post('/v1/runs').set(asToken(token)).send(body);
    expect(byToken.status).toBe(402);
    expect(byToken.body.type).toBe(`${PROBLEM}insufficient-credits`);
    expect(byToken.body).not.toHaveProperty('balance');
    expect(byToken.body.detail).not.toMatch(/balance is|\b3\b/);
    const byKey = await stack.http.post('/v1/runs').set(bearer(account)).send(body);
    expect(byKey.status).toBe(402);
    expect(byKey.body).toMatchObject({ balance: 3 });
    expect(byKey.body.detail).toMatch(/balance is 3/);
  });

  test('too many active runs: no counts and no balance for a token caller', async () => {
    const account = await createAccount(stack, 100_000, { maxActiveRuns: 1 });
    const run = await longRun(account);
    try {
      const token = await issue(account, { scope: { user: 'u' }, permissions: ['read', 'create'] });
      const body = { prompt: 'one more', model: 'demo/echo', maxTokens: 10 };
      const byToken = await stack.http.post('/v1/runs').set(asToken(token)).send(body);
      expect(byToken.status).toBe(429);
      expect(byToken.body).toMatchObject({ type: `${PROBLEM}too-many-active-runs`, scope: 'account' });
      expect(byToken.body).not.toHaveProperty('balance');
      expect(byToken.body.detail).not.toMatch(/\d/);
      const byKey = await stack.http.post('/v1/runs').set(bearer(account)).send(body);
      expect(byKey.status).toBe(429);
      expect(byKey.body.detail).toMatch(/already has 1 active runs \(maximum 1\)/);
      expect(byKey.body).toHaveProperty('balance');
    } finally {
      await stop(account, run.id);
    }
  }, 30_000);
});

describe('request bodies must arrive in time', () => {
  /** Sends the head of a request and `bodyPart`, then nothing: what comes back, and when the socket closed. */
  function trickle(head: string, bodyPart: string, port = Number(new URL(stack.baseUrl).port)): Promise<{ answer: string; closedAfterMs: number }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let answer = '';
      const socket = net.connect(port, '127.0.0.1', () => socket.write(head + bodyPart));
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.on('close', () => resolve({ answer, closedAfterMs: Date.now() - started }));
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer within 10 s; got ${JSON.stringify(answer)}`));
      }, 10_000).unref();
    });
  }

  test('an unauthenticated slow body gets 408 problem+json and its connection is closed', async () => {
    const head = 'POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
    const { answer, closedAfterMs } = await trickle(head, '{"prompt": "');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/content-type: application\/problem\+json/i);
    expect(answer).toContain(`${PROBLEM}request-timeout`);
    expect(closedAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
    expect(closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 4000);
  });

  test('behind it, Node\'s own deadline answers a request that nobody reads, as a problem too', async () => {
    // The API process's server settings (src/bin/api.ts), on a server whose handler never answers.
    const server = http.createServer(() => undefined);
    answerClientErrorsWithProblems(server);
    limitRequestArrival(server, BODY_TIMEOUT_MS);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const head = 'POST /anything HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
      const { answer, closedAfterMs } = await trickle(head, '{', (server.address() as AddressInfo).port);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain(`${PROBLEM}request-timeout`);
      expect(closedAfterMs).toBeLessThan(2 * BODY_TIMEOUT_MS + 3000);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('an event stream stays open well past the body timeout', async () => {
    const account = await createAccount(stack, 100_000);
    const run = await longRun(account);
    const conn = await SseConnection.open(`${stack.baseUrl}/v1/runs/${run.id}/events`, bearer(account));
    try {
      await new Promise((r) => setTimeout(r, 4 * BODY_TIMEOUT_MS));
      const seen = conn.messages.length;
      await conn.waitFor((m) => m.length > seen);
      expect(conn.endedByServer).toBe(false);
    } finally {
      conn.close();
      await stop(account, run.id);
    }
  }, 30_000);
});

describe('what is said about the platform\'s own network', () => {
  test('a webhook host that resolves to a private address is refused without naming the address', async () => {
    const account = await createAccount(stack, 10);
    const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url: 'https://localhost/hook' });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(`${PROBLEM}invalid-webhook-url`);
    expect(JSON.stringify(res.body)).toMatch(/localhost resolves to a loopback, private/);
    expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1|::1/);
  });

  test('/readyz says only ok or unavailable, never the connection error', async () => {
    const pool = createPool('postgres://runway:secret@127.0.0.1:1/runway', 1);
    // What gRPC says when Temporal is down: the address it tried is in the message.
    const temporal = { workflowService: { getSystemInfo: () => Promise.reject(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.9.8.7:7233')) } };
    try {
      const deps = { ...stack.apiDeps, db: createDb(pool), temporal } as unknown as ApiDeps;
      const app = new Koa().use(routerOf(healthEndpoints, { deps } as ApiServices).routes());
      const res = await request(app.callback()).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'unavailable', checks: { postgres: 'unavailable', temporal: 'unavailable' } });
      expect(res.text).not.toMatch(/127\.0\.0\.1|10\.9\.8\.7|ECONNREFUSED|UNAVAILABLE/);
    } finally {
      await pool.end();
    }
  });
});
