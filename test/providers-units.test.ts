import { childEnv } from '../src/providers/child-env';
import { promptOf } from '../src/providers/cli-agent';
import { sizeTokensOf } from '../src/providers/estimate-tokens';
import { httpError, MAX_RETRY_AFTER_SECONDS, parseRetryAfter } from '../src/providers/http-errors';
import { LineSplitter } from '../src/providers/line-splitter';
import { OpenAiProvider } from '../src/providers/openai';
import { redactError, redactText } from '../src/providers/redact';
import { ProviderError } from '../src/providers/types';
import { freePort } from '../src/temporal/dev-server';

describe('provider building blocks', () => {
  test('redaction removes whole keys and masked fragments of them, and leaves other text alone', () => {
    const key = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx';
    expect(redactText(`bad key ${key}!`, [key])).toBe('bad key [redacted]!');
    expect(redactText('Incorrect API key provided: sk-proj-****************UvWx', [key])).toBe(
      'Incorrect API key provided: [redacted]****************UvWx',
    );
    expect(redactText('an ordinary sentence about something', [key, undefined])).toBe('an ordinary sentence about something');
    expect(redactText(`no secrets given ${key}`, [undefined, null])).toBe(`no secrets given ${key}`);
    const err = redactError(new Error(`header "Bearer ${key}" invalid`), [key]);
    expect(err.message).toBe('header "Bearer [redacted]" invalid');
    expect(err.stack).not.toContain(key);
  });

  test('Retry-After: seconds or an HTTP date; a wait over the limit fails the run instead', async () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter('1.5')).toBe(1.5);
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThan(28);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();

    const limited = await httpError(new Response('slow down', { status: 429, headers: { 'retry-after': '5' } }));
    expect(limited).toMatchObject({ code: 'provider_http_429', retryable: true, retryAfterSeconds: 5 });
    const tooLong = await httpError(new Response('', { status: 429, headers: { 'retry-after': String(MAX_RETRY_AFTER_SECONDS + 1) } }));
    expect(tooLong).toMatchObject({ retryable: false, retryAfterSeconds: undefined });
    expect(await httpError(new Response('', { status: 503 }))).toMatchObject({ retryable: true });
    expect(await httpError(new Response('', { status: 404 }))).toMatchObject({ code: 'provider_http_404', retryable: false });
  });

  test('a CLI agent’s environment is built from scratch', () => {
    const parent = { PATH: '/bin', HOME: '/home/x', LANG: 'en_US.UTF-8', DATABASE_URL: 'postgres://u:p@h/db', RUNWAY_SECRETS_KEY: 'k', GITHUB_TOKEN: 't' };
    expect(childEnv(parent, {})).toEqual({ PATH: '/bin', HOME: '/home/x', LANG: 'en_US.UTF-8' });
    expect(childEnv(parent, { apiKey: 'run-key', extra: { MODE: 'fast' } })).toEqual({
      PATH: '/bin',
      HOME: '/home/x',
      LANG: 'en_US.UTF-8',
      MODE: 'fast',
      RUNWAY_RUN_API_KEY: 'run-key',
    });
  });

  test('lines keep their newline, split across chunks and multi-byte characters', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l), 10);
    const bytes = Buffer.from('héllo\nwor');
    splitter.write(bytes.subarray(0, 2)); // cuts the é in half
    splitter.write(bytes.subarray(2));
    splitter.write(Buffer.from('ld\r\n0123456789abc'));
    splitter.end();
    expect(lines).toEqual(['héllo\n', 'world\r\n', '0123456789abc']);
  });

  test('CLI billing counts size, not words; a conversation becomes a transcript', () => {
    expect(sizeTokensOf('  two words\n')).toBe(3); // 12 bytes
    expect(sizeTokensOf('\n')).toBe(1);
    expect(sizeTokensOf('x'.repeat(200_000))).toBe(50_000); // one "word"
    expect(sizeTokensOf('é')).toBe(1); // 2 bytes
    expect(promptOf([{ role: 'user', content: 'only' }])).toBe('only');
    expect(
      promptOf([
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'again' },
      ]),
    ).toBe('user: hi\n\nassistant: hello\n\nuser: again');
  });

  test('an unreachable provider is a retryable error', async () => {
    const provider = new OpenAiProvider({ baseUrl: `http://127.0.0.1:${await freePort()}/v1` });
    const call = { model: 'openai/x', messages: [{ role: 'user' as const, content: 'hi' }], maxOutputTokens: 5, signal: new AbortController().signal };
    const failure = await (async () => {
      for await (const _chunk of provider.stream(call)) return undefined;
      return undefined;
    })().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ code: 'provider_unreachable', retryable: true });
  });
});
