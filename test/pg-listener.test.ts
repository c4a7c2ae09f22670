import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createLogger } from '../src/logger';
import { PgListener, type NotificationConsumer } from '../src/db/pg-listener';

/** One LISTEN connection per process, shared by its consumers (issue #27, part 2). */
const APP = `runway-listener-test-${process.pid}`;
const databaseUrl = process.env.DATABASE_URL as string;
let pool: pg.Pool;
let listener: PgListener;

beforeAll(() => {
  pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  listener = new PgListener({ connectionString: databaseUrl, logger: createLogger('test', 'silent'), applicationName: APP });
});
afterAll(async () => {
  await listener.close();
  await pool.end();
});

/** A consumer that records what it is told. */
function recorder(): NotificationConsumer & { heard: string[]; resyncs: number } {
  const r = { heard: [] as string[], resyncs: 0, notify: (channel: string, payload: string) => r.heard.push(`${channel}:${payload}`), resync: () => r.resyncs++ };
  return r;
}

async function until(ok: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const connections = async () => Number((await pool.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1`, [APP])).rows[0].n);
const notify = (channel: string, payload: string) => pool.query('SELECT pg_notify($1, $2)', [channel, payload]);

test('consumers share one connection, each hears its own channels, and all resync after it is lost', async () => {
  const a = recorder();
  const b = recorder();
  const stopA = listener.listen(['test_a', 'test_shared'], a);
  const stopB = listener.listen(['test_b', 'test_shared'], b);
  await until(() => a.resyncs === 1 && b.resyncs === 1, 'both listening');
  expect(await connections()).toBe(1);

  await notify('test_a', '1');
  await notify('test_b', '2');
  await notify('test_shared', '3');
  await until(() => a.heard.length === 2 && b.heard.length === 2, 'the notifications');
  expect(a.heard).toEqual(['test_a:1', 'test_shared:3']);
  expect(b.heard).toEqual(['test_b:2', 'test_shared:3']);

  await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [APP]);
  await until(() => a.resyncs === 2 && b.resyncs === 2, 'both resynced after the reconnection');
  expect(await connections()).toBe(1);
  await notify('test_shared', '4');
  await until(() => a.heard.length === 3 && b.heard.length === 3, 'a notification after the reconnection');

  // One consumer gone: its channel is no longer heard; the last one gone: the connection closes.
  stopA();
  await notify('test_a', '5');
  await notify('test_b', '6');
  await until(() => b.heard.length === 4, "b's notification");
  expect(a.heard).toHaveLength(3);
  stopB();
  await until(async () => (await connections()) === 0, 'the connection to close');
});
