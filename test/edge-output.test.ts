import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from '../src/logger';
import { DEFAULT_BATCH, OutputBatcher } from '../src/streams/output-batcher';
import { RunOutputWriter } from '../src/streams/run-output-writer';
import { createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { expectContiguous } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

const MODEL = 'openai/test-model';
const LONG_LINE = `${'a'.repeat(8191)}😀 tail`; // the emoji straddles the 8,192-unit log line limit

/** A CLI agent writing what no PostgreSQL text or jsonb takes as it is, across several batch windows. */
const HOSTILE_AGENT = `
const write = (stream, text) => new Promise((resolve) => stream.write(text, resolve));
(async () => {
  for (let i = 0; i < 5; i++) {
    await write(process.stdout, 'out\\u0000put ' + i + '\\n');
    await write(process.stderr, ${JSON.stringify(LONG_LINE)} + '\\n');
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
})();
`;

let stack: TestStack;
let account: TestAccount;
const fake = new FakeOpenAi();
beforeAll(async () => {
  await fake.start();
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ [MODEL]: { input: 1, output: 1000 } }),
      RUNWAY_CLI_AGENTS: JSON.stringify({ hostile: { command: process.execPath, args: ['-e', HOSTILE_AGENT], prompt: 'arg' } }),
    },
  });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

async function eventsOf(runId: string) {
  return stack.db.selectFrom('run_events').select(['id', 'type', 'data']).where('run_id', '=', runId).orderBy('id').execute();
}

describe('hostile output', () => {
  test('NUL, lone surrogates, a split emoji and absurd usage are stored; runs sharing the window are untouched', async () => {
    const normalTokens = Array.from({ length: 40 }, (_, i) => `n${i} `);
    fake.when('a normal run', { kind: 'stream', tokens: normalTokens, delayMs: 25 });
    fake.when('a hostile run', {
      kind: 'stream',
      tokens: ['start ', 'nul\u0000 ', 'high\ud83d ', 'low\ude00 ', 'pair😀 ', 'end'],
      delayMs: 40,
      usage: { prompt_tokens: 5e9, completion_tokens: 6 }, // over the int columns' range
    });
    const [normal, hostile, agent] = await Promise.all([
      startRun(stack, account, { prompt: 'a normal run', model: MODEL, maxTokens: 100 }),
      startRun(stack, account, { prompt: 'a hostile run', model: MODEL, maxTokens: 100 }),
      startRun(stack, account, { prompt: 'go', model: 'cli/hostile', maxTokens: 100 }),
    ]);
    const wait = (r: typeof normal) => waitForRun(stack, account, r.body.id, undefined, 60_000);
    const [n, h, a] = await Promise.all([wait(normal), wait(hostile), wait(agent)]);

    // The run that shared every window with the hostile ones: one attempt, every event, in order.
    expect(n).toMatchObject({ status: 'succeeded', attempt: 1, output: normalTokens.join('') });
    const normalEvents = await eventsOf(n.id);
    expectContiguous(normalEvents.map((e) => Number(e.id)), 1, normalEvents.length);
    expect(normalEvents.map((e) => e.type)).not.toContain('reset');

    expect(h).toMatchObject({ status: 'succeeded', attempt: 1, output: 'start nul\ufffd high\ufffd low\ufffd pair😀 end' });
    // An absurd report bills no more than the call could use: one token per byte of what was
    // sent, plus 1,000 of the provider's own framing.
    const sentBytes = Buffer.byteLength('a hostile run');
    expect(h.usage.outputTokens).toBe(6);
    expect(h.usage.inputTokens).toBeGreaterThanOrEqual(sentBytes + 1000);
    expect(h.usage.inputTokens).toBeLessThanOrEqual(sentBytes + 1010); // and a message's framing
    expect(h.cost.charged).toBeLessThanOrEqual(h.cost.estimate + 2); // input costs 1 credit per 1,000 here

    expect(a).toMatchObject({ status: 'succeeded', attempt: 1 });
    expect(a.output).toBe([0, 1, 2, 3, 4].map((i) => `output ${i}\n`).join('')); // the CLI provider drops NUL itself
    const logs = (await eventsOf(a.id)).filter((e) => e.type === 'log').map((e) => (e.data as { line: string }).line);
    expect(logs).toEqual(Array(5).fill('a'.repeat(8191)));
  });
});

describe('the shared output batcher', () => {
  /** A run row written straight to the table (the batcher only needs its counter). */
  async function scratchRun(): Promise<string> {
    const id = `run_edge${randomBytes(6).toString('hex')}`;
    await stack.db
      .insertInto('runs')
      .values({ id, account_id: account.id, status: 'running', step: 'execute', model: 'demo/echo', prompt: 'scratch', max_tokens: 1, metadata: '{}', request_hash: 'scratch', estimate: 0, price_input: 0, price_output: 0 })
      .execute();
    return id;
  }

  test("a run whose rows the database refuses loses only its own output: the others' events stay gapless and whole", async () => {
    const [bad, good1, good2] = [await scratchRun(), await scratchRun(), await scratchRun()];
    // A refusal no sanitizing can prevent, for one run only.
    const fn = `edge_refuse_${randomBytes(4).toString('hex')}`;
    await sql.raw(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`).execute(stack.db);
    await sql
      .raw(`CREATE TRIGGER ${fn} BEFORE INSERT ON run_events FOR EACH ROW WHEN (NEW.run_id = '${bad}' AND NEW.type = 'delta') EXECUTE FUNCTION ${fn}()`)
      .execute(stack.db);
    const errors: unknown[] = [];
    const logger = { error: (...args: unknown[]) => errors.push(args) } as unknown as Logger;
    const batcher = new OutputBatcher(stack.db, DEFAULT_BATCH, logger);
    try {
      const writers = [bad, good1, good2].map((id) => new RunOutputWriter(stack.db, id, DEFAULT_BATCH, batcher));
      for (const w of writers) await w.begin(1, { inputTokens: 0, outputTokens: 0 });
      for (let i = 0; i < 30; i++) {
        for (const w of writers) w.delta(`t${i} `);
        if (i % 10 === 0) writers[1]?.log('stderr', `line ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const [badClose, ...goodCloses] = await Promise.allSettled(writers.map((w) => w.close()));
      expect(badClose?.status).toBe('rejected');
      expect(goodCloses.map((c) => c.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(errors.length).toBeGreaterThan(0);
      expect(JSON.stringify(errors)).toContain(bad);

      const expected = Array.from({ length: 30 }, (_, i) => `t${i} `).join('');
      for (const id of [good1, good2]) {
        const events = await eventsOf(id);
        const head = await stack.db.selectFrom('runs').select('last_event_id').where('id', '=', id).executeTakeFirstOrThrow();
        expectContiguous(events.map((e) => Number(e.id)), 1, Number(head.last_event_id));
        const text = events.filter((e) => e.type === 'delta').map((e) => (e.data as { text: string }).text).join('');
        expect(text).toBe(expected); // nothing missing, nothing twice
      }
      expect((await eventsOf(good1)).filter((e) => e.type === 'log')).toHaveLength(3);
      // The refused run consumed no ids: its counter matches its rows.
      const badHead = await stack.db.selectFrom('runs').select('last_event_id').where('id', '=', bad).executeTakeFirstOrThrow();
      expect(Number(badHead.last_event_id)).toBe((await eventsOf(bad)).length);
    } finally {
      await sql.raw(`DROP TRIGGER ${fn} ON run_events; DROP FUNCTION ${fn}()`).execute(stack.db);
    }

    // Its next attempt writes again through the same batcher.
    const retry = new RunOutputWriter(stack.db, bad, DEFAULT_BATCH, batcher);
    await retry.begin(2, { inputTokens: 0, outputTokens: 0 });
    retry.delta('second attempt');
    await retry.close();
    const events = await eventsOf(bad);
    expectContiguous(events.map((e) => Number(e.id)), 1, events.length);
    expect(events[events.length - 1]).toMatchObject({ type: 'delta', data: { text: 'second attempt' } });
  });
});
