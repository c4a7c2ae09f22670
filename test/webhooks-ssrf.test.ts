import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, startRun, waitForRun } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';
import { isBlockedAddress } from '../src/net/address-policy';
import { checkWebhookUrl } from '../src/webhooks/url-check';
import { sendWebhook } from '../src/webhooks/send';
import { sealWebhookSecret, newWebhookSecret } from '../src/webhooks/secret';

/** SSRF rules of webhook URLs, with private targets refused (the production default). */
const PROBLEM = 'https://runway.dev/problems/';
let stack: TestStack;

/** A TCP listener that counts connections: it must never see one. */
const tcp = net.createServer((socket) => {
  connections++;
  socket.destroy();
});
let connections = 0;
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  port = (tcp.address() as AddressInfo).port;
  stack = await startStack({ env: { RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'false', RUNWAY_WEBHOOK_RETRY_SCHEDULE: '200ms' } });
});
afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => tcp.close(resolve));
});

describe('at registration', () => {
  const PRIVATE = /loopback, private, link-local or reserved address/;
  const refused: [string, string, RegExp][] = [
    ['http, not https', 'http://example.com/hook', /scheme must be https/],
    ['loopback literal', 'https://127.0.0.1:8443/hook', PRIVATE],
    ['a name that resolves to loopback', 'https://localhost/hook', /localhost resolves to a loopback, private/],
    ['cloud metadata', 'https://169.254.169.254/latest/meta-data', PRIVATE],
    ['private 10/8', 'https://10.0.0.1/hook', PRIVATE],
    ['private 192.168/16', 'https://192.168.1.10/hook', PRIVATE],
    ['private 172.16/12', 'https://172.20.0.1/hook', PRIVATE],
    ['CGNAT', 'https://100.64.0.1/hook', PRIVATE],
    ['IPv6 loopback', 'https://[::1]/hook', PRIVATE],
    ['IPv6 unique-local', 'https://[fd00::1]/hook', PRIVATE],
    ['IPv6 link-local', 'https://[fe80::1]/hook', PRIVATE],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/hook', PRIVATE],
    ['unspecified', 'https://0.0.0.0/hook', PRIVATE],
    ['decimal loopback', 'https://2130706433/hook', PRIVATE],
    ['credentials in the URL', 'https://user:pass@example.com/hook', /credentials/],
  ];
  test.each(refused)('%s is a 400 invalid-webhook-url and nothing is stored', async (_what, url, reason) => {
    const account = await createAccount(stack);
    const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ type: `${PROBLEM}invalid-webhook-url`, errors: [{ path: 'url', message: expect.stringMatching(reason) }] });
    expect((await stack.http.get('/v1/webhooks').set(bearer(account))).body.data).toEqual([]);
  });

  test('a PATCH to a private URL is refused the same way', async () => {
    const account = await createAccount(stack);
    // Registered directly: no public host resolves on a machine without internet.
    const id = await insertEndpoint(account.id, 'https://hooks.example.com/a');
    const res = await stack.http.patch(`/v1/webhooks/${id}`).set(bearer(account)).send({ url: 'https://localhost/b' });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(`${PROBLEM}invalid-webhook-url`);
    expect((await stack.http.get(`/v1/webhooks/${id}`).set(bearer(account))).body.url).toBe('https://hooks.example.com/a');
  });

  test('a name is refused when any of its addresses is private, accepted when all are public', async () => {
    const mixed = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }];
    // Refused without naming the private address (it would map the platform's network to the tenant).
    const refusal = await checkWebhookUrl('https://rebind.example/h', { allowPrivate: false, resolve: mixed }).catch((err: Error) => err.message);
    expect(refusal).toMatch(/rebind\.example resolves to a loopback, private/);
    expect(refusal).not.toContain('10.1.2.3');
    const publicOnly = async () => [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }];
    await expect(checkWebhookUrl('https://public.example/h', { allowPrivate: false, resolve: publicOnly })).resolves.toBe('https://public.example/h');
    const none = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    await expect(checkWebhookUrl('https://nowhere.example/h', { allowPrivate: false, resolve: none })).rejects.toThrow(/does not resolve/);
  });

  test('the address rules', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00:ec2::254', 'fe80::1', '::ffff:10.0.0.1', '64:ff9b::7f00:1', '::ffff:0:7f00:1', '::ffff:0:a9fe:a9fe', '2002:a00:1::', 'ff02::1', '224.0.0.1']) {
      expect({ a, blocked: isBlockedAddress(a) }).toEqual({ a, blocked: true });
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:2800:220:1::1', '::ffff:8.8.8.8', '::ffff:0:808:808']) {
      expect({ a, blocked: isBlockedAddress(a) }).toEqual({ a, blocked: false });
    }
  });
});

async function insertEndpoint(accountId: string, url: string): Promise<string> {
  const id = `wh_test${Math.random().toString(36).slice(2, 12)}`;
  await stack.db
    .insertInto('webhook_endpoints')
    .values({ id, account_id: accountId, url, events: ['run.succeeded', 'run.failed', 'run.stopped'], description: null, secret_box: JSON.stringify(sealWebhookSecret(stack.secretsKey, id, newWebhookSecret())) })
    .execute();
  return id;
}

describe('at every attempt', () => {
  test('an endpoint whose host now resolves to a private address is never connected to', async () => {
    const account = await createAccount(stack);
    // As if the name had resolved to a public address at registration, and to loopback now (DNS rebinding).
    const byName = await insertEndpoint(account.id, `https://localhost:${port}/hook`);
    const byLiteral = await insertEndpoint(account.id, `https://127.0.0.1:${port}/hook`);
    const mapped = await insertEndpoint(account.id, `https://[::ffff:127.0.0.1]:${port}/hook`);
    const res = await startRun(stack, account, { prompt: 'ssrf', maxTokens: 5 });
    await waitForRun(stack, account, res.body.id);
    for (const id of [byName, byLiteral, mapped]) {
      const deadline = Date.now() + 20_000;
      let d: Record<string, unknown> | undefined;
      while (Date.now() < deadline) {
        d = (await stack.http.get(`/v1/webhooks/${id}/deliveries`).set(bearer(account))).body.data[0];
        if (d?.status === 'failed') break;
        await sleep(100);
      }
      expect(d).toMatchObject({ status: 'failed', attempts: 2, lastStatusCode: null, lastError: expect.stringMatching(/^blocked: .*(loopback|private)/) });
    }
    expect(connections).toBe(0);
  });

  test('the connection goes to the address that was checked, resolved once per attempt', async () => {
    // Names that only the injected resolver knows: the socket can reach the receiver only
    // through the checked answer, never through a second lookup of its own.
    const receiver = new WebhookReceiver();
    await receiver.start();
    const localPort = new URL(receiver.url).port;
    try {
      const calls: string[] = [];
      const resolve = async (host: string) => {
        calls.push(host);
        return [{ address: '127.0.0.1', family: 4 }];
      };
      const target = { url: `http://rebind.invalid:${localPort}/pinned`, headers: {}, body: '{}' };
      expect(await sendWebhook(target, { allowPrivate: true, timeoutMs: 2000, resolve })).toEqual({ kind: 'response', statusCode: 200 });
      expect(calls).toEqual(['rebind.invalid']);
      expect(receiver.on('/pinned')).toHaveLength(1);

      const refused = await sendWebhook({ ...target, url: `https://rebind.invalid:${localPort}/pinned` }, { allowPrivate: false, timeoutMs: 2000, resolve });
      expect(refused).toEqual({ kind: 'error', message: expect.stringMatching(/^blocked: rebind\.invalid resolves to a loopback, private/) });
      expect((await sendWebhook(target, { allowPrivate: false, timeoutMs: 2000, resolve })).kind).toBe('error'); // http is refused too
      expect(receiver.on('/pinned')).toHaveLength(1);
    } finally {
      await receiver.stop();
    }
  });
});
