import fc from 'fast-check';
import o200k from 'gpt-tokenizer/cjs/encoding/o200k_base';
import cl100k from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import { bearer, createAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { AnthropicProvider } from '../src/providers/anthropic';
import { DemoEchoProvider, echoTokens } from '../src/providers/demo-echo';
import { LineSplitter } from '../src/providers/line-splitter';
import { OpenAiProvider } from '../src/providers/openai';
import { redactText } from '../src/providers/redact';
import { redactText as redactTelemetry } from '../src/telemetry/redact';
import { excerpt, isUnstorable, sanitize, stripTerminalControls, tailOf } from '../src/text';
import { tailLines } from '../src/workspaces/process';
import { workspaceIssues } from '../src/workspaces/issues';
import { DEFAULT_ALLOWED_HOSTS } from '../src/workspaces/settings';
import type { ModelMessage, ModelProvider } from '../src/providers/types';

/**
 * Issue #26, item 1: every function that sees tenant text (or text a tenant's command or model
 * prints) does work linear in it. Nothing is timed finely: a megabyte of adversarial text must be
 * handled well under a generous bound per call, which a quadratic version misses by minutes.
 * LINEAR_TEST_BYTES makes the input smaller, to see a quadratic version fail in seconds.
 */
const SIZE = Number(process.env.LINEAR_TEST_BYTES ?? 1 << 20);
const BOUND_MS = 1500;

// As the platform sees them (the interface passes the model; some providers ignore it).
const openai: ModelProvider = new OpenAiProvider({ baseUrl: 'http://127.0.0.1:9', apiKey: 'sk-x' });
const anthropic: ModelProvider = new AnthropicProvider({ baseUrl: 'http://127.0.0.1:9', apiKey: 'sk-x' });
const echo: ModelProvider = new DemoEchoProvider(0);
const user = (content: string): ModelMessage[] => [{ role: 'user', content }];
const policy = { allowedHosts: DEFAULT_ALLOWED_HOSTS, localReposRoot: null };

const functions: [string, (text: string) => unknown][] = [
  ['demo/echo tokens', (t) => echoTokens(t).length],
  ['demo/echo estimate', (t) => echo.estimateInputTokens(user(t), 'demo/echo')],
  ['openai estimate (o200k_base)', (t) => openai.estimateInputTokens(user(t), 'openai/gpt-4o-mini')],
  ['openai estimate (cl100k_base)', (t) => openai.estimateInputTokens(user(t), 'openai/gpt-4')],
  ['anthropic estimate', (t) => anthropic.estimateInputTokens(user(t), 'anthropic/claude-haiku-4-5')],
  ['provider key redaction', (t) => redactText(t, ['sk-live-0123456789abcdef', 'short-key'])],
  ['telemetry redaction', (t) => redactTelemetry(t)],
  ['sanitize / isUnstorable (input guard)', (t) => isUnstorable(t) || sanitize(t).length],
  ['terminal controls', (t) => stripTerminalControls(t)],
  ['excerpt / tailOf', (t) => excerpt(t, 500) + tailOf(t, 500)],
  ['tailLines', (t) => tailLines(t)],
  ['workspace checks', (t) => workspaceIssues({ repo: t, ref: t, branch: t, setup: [t] }, policy)],
  [
    'line splitter',
    (t) => {
      let n = 0;
      const splitter = new LineSplitter(() => n++);
      const bytes = Buffer.from(t);
      for (let i = 0; i < bytes.length; i += 65536) splitter.write(bytes.subarray(i, i + 65536));
      splitter.end();
      return n;
    },
  ],
];

/** Units that make backtracking or BPE merging expensive when repeated. */
const UNITS = [
  ' ', '\t\n', 'a', 'ab', 'a1', 'aB', 'a ', ' a', '\uE000', '\u{20000}', '\u0085', '\x1b[', '\x1b]', '\x9b0',
  '1', '1.', '%', '/', 'Bearer ', '?token=', 'key-like_fragment+', 'sk-live-0123', '\ud800', '\r',
];

function repeatTo(unit: string, size: number): string {
  return unit.repeat(Math.max(1, Math.ceil(size / unit.length))).slice(0, size);
}

function elapsedMs(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

describe('every tokenizer and regex that sees tenant text is linear', () => {
  test.each(functions)('%s: a megabyte of any adversarial text in well under a second', (_name, fn) => {
    const slow: string[] = [];
    const check = (text: string, label: string) => {
      const ms = elapsedMs(() => fn(text));
      if (ms >= BOUND_MS) slow.push(`${label}: ${Math.round(ms)} ms`);
    };
    for (const unit of UNITS) check(repeatTo(unit, SIZE), JSON.stringify(unit));
    // And mixtures of them, repeated: fast-check picks the unit.
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...UNITS), { minLength: 2, maxLength: 6 }), (parts) => {
        check(repeatTo(parts.join(''), SIZE), JSON.stringify(parts.join('')));
      }),
      { numRuns: 8, seed: 26 },
    );
    expect(slow).toEqual([]);
  }, 600_000);
});

describe('input estimates lean high', () => {
  const whole = { o200k: o200k.countTokens, cl100k: cl100k.countTokens };
  const asText = { disallowedSpecial: new Set<string>() };

  test('2,000 private-use, CJK Extension B or C1-control characters: at least the tokenizer\'s own count', () => {
    for (const ch of ['\uE000', '\u{20000}', '\u0085', '\uE000\u{20000}\u0085']) {
      const text = ch.repeat(2000 / [...ch].length);
      expect(openai.estimateInputTokens(user(text), 'openai/gpt-4o-mini')).toBeGreaterThanOrEqual(whole.o200k(text, asText));
      expect(openai.estimateInputTokens(user(text), 'openai/gpt-4')).toBeGreaterThanOrEqual(whole.cl100k(text, asText));
      // Anthropic's tokenizer is not published: the bound must hold against OpenAI's, too.
      const claude = anthropic.estimateInputTokens(user(text), 'anthropic/claude-haiku-4-5');
      expect(claude).toBeGreaterThanOrEqual(Math.max(whole.o200k(text, asText), whole.cl100k(text, asText)));
    }
  });

  test('any text: the estimate is at least the whole text\'s count (pieces never lose tokens)', () => {
    const alphabet = fc.constantFrom('a', 'b', 'Z', '1', '9', ' ', '  ', '\n', '.', ',', "'s", '\uE000', '\u{20000}', '\u0085', 'é', '中', '<|endoftext|>', 'the', ' quick');
    fc.assert(
      fc.property(fc.array(alphabet, { minLength: 100, maxLength: 1500 }), (parts) => {
        const text = parts.join('');
        expect(openai.estimateInputTokens(user(text), 'openai/gpt-4o')).toBeGreaterThanOrEqual(whole.o200k(text, asText));
        expect(openai.estimateInputTokens(user(text), 'openai/gpt-3.5-turbo')).toBeGreaterThanOrEqual(whole.cl100k(text, asText));
        expect(anthropic.estimateInputTokens(user(text), 'anthropic/x')).toBeGreaterThanOrEqual(whole.o200k(text, asText));
      }),
      { numRuns: 200, seed: 26 },
    );
  });

  test('demo/echo bills by size: 200 KB without spaces is not one word', () => {
    const tokens = echo.estimateInputTokens(user('x'.repeat(200_000)), 'demo/echo');
    expect(tokens).toBeGreaterThanOrEqual(200_000 / 8);
    // Proportional: twice the size, twice the tokens.
    expect(echo.estimateInputTokens(user('x'.repeat(400_000)), 'demo/echo')).toBe(2 * tokens);
    // And the echo still gives the prompt back exactly.
    expect(echoTokens('a  b\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600} c').join('')).toBe('a  b\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600} c');
  });
});

describe('through the API', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('an account with no credits posting the largest prompt of spaces is answered at once, and the API keeps answering others', async () => {
    const account = await createAccount(stack, 0);
    const prompt = ' '.repeat(200_000); // the most a prompt may hold
    const posted = Date.now();
    let answered = false;
    const run = stack.http
      .post('/v1/runs')
      .set(bearer(account))
      .send({ prompt, model: 'demo/echo', maxTokens: 10 })
      .then((res) => {
        answered = true;
        return { res, ms: Date.now() - posted };
      });
    // Other requests, one after another, for as long as the first is being handled: the slowest
    // of them is how long the API stopped answering.
    let slowestHealthMs = 0;
    do {
      const asked = Date.now();
      const health = await stack.http.get('/healthz');
      expect(health.status).toBe(200);
      slowestHealthMs = Math.max(slowestHealthMs, Date.now() - asked);
    } while (!answered);
    const { res, ms } = await run;
    expect(slowestHealthMs).toBeLessThan(2000);
    expect(ms).toBeLessThan(5000);
    // Billed by size: 200,000 spaces are 25,000 tokens, which an empty account cannot pay for.
    expect(res.status).toBe(402);
    expect(res.body.estimate).toBe(200_000 / 8 + 10);
  }, 180_000);
});
