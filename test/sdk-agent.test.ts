import { Runway, isEvent, textOf, type RunStep, type RunwayEvent } from '../packages/client/src/index';

/**
 * The client SDK's part of agent runs (issue #28), without a running agent run: the typed step
 * events and the output rule on synthetic events, and `runs.steps` paging against a fake fetch.
 */
let nextId = 1;
const ev = (type: string, data: unknown): RunwayEvent => ({ id: nextId++, type, data });
const delta = (text: string) => ev('delta', { text });

describe('textOf follows the server\'s output rule', () => {
  test('a model turn\'s `step` starts the text over; a tool step and its events do not', () => {
    const events = [
      ev('status', { status: 'running' }),
      ev('step', { index: 0, kind: 'model' }),
      delta('Let me look. '),
      ev('step', { index: 1, kind: 'tool' }),
      ev('tool_call', { callId: 'c1', name: 'read_file', arguments: '{"path":"a.txt"}' }),
      ev('tool_result', { callId: 'c1', result: 'hello', truncated: false }),
      ev('step', { index: 2, kind: 'model' }),
      delta('The file says '),
      delta('hello.'),
      ev('usage', { inputTokens: 10, outputTokens: 5 }),
      ev('end', { status: 'succeeded' }),
    ];
    expect(textOf(events)).toBe('The file says hello.');
  });

  test('a reset inside a turn starts it over too; text after a tool step stays in the same turn', () => {
    const events = [
      ev('step', { index: 0, kind: 'model' }),
      delta('first attempt'),
      ev('reset', { attempt: 2, reason: 'retry' }),
      delta('second '),
      ev('step', { index: 1, kind: 'tool' }),
      delta('attempt'),
    ];
    expect(textOf(events)).toBe('second attempt');
  });

  test('a plain run\'s text is as before; a run whose last turn wrote nothing has no text', () => {
    expect(textOf([delta('a'), ev('reset', { attempt: 2, reason: 'retry' }), delta('b'), delta('c')])).toBe('bc');
    expect(textOf([ev('step', { index: 0, kind: 'model' }), delta('thinking'), ev('step', { index: 1, kind: 'model' })])).toBe('');
  });

  test('text that looks like markup or holds odd characters is kept exactly', () => {
    const odd = '<script>alert(1)</script>\u0000\ud800 — ✓';
    expect(textOf([ev('step', { index: 0, kind: 'model' }), delta(odd)])).toBe(odd);
  });
});

test('isEvent narrows to the typed shapes of step, tool_call and tool_result', () => {
  const seen: string[] = [];
  const events = [
    ev('step', { index: 3, kind: 'tool' }),
    ev('tool_call', { callId: 'c9', name: 'run_command', arguments: '{"command":"ls"}' }),
    ev('tool_result', { callId: 'c9', result: 'out', truncated: true, error: 'exit 1' }),
  ];
  for (const e of events) {
    // Each branch reads the fields with their declared types (a compile-time check as much as a run-time one).
    if (isEvent(e, 'step')) seen.push(`${e.data.kind}#${e.data.index.toFixed(0)}`);
    if (isEvent(e, 'tool_call')) seen.push(`${e.data.name}(${e.data.arguments.length})`);
    if (isEvent(e, 'tool_result')) seen.push(`${e.data.callId}:${e.data.result}:${String(e.data.truncated)}:${e.data.error ?? ''}`);
  }
  expect(seen).toEqual(['tool#3', 'run_command(16)', 'c9:out:true:exit 1']);
  expect(isEvent(events[0]!, 'tool_call')).toBe(false);
});

describe('runs.steps', () => {
  const modelStep = (index: number): RunStep => ({
    index, kind: 'model', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:01.000Z', durationMs: 1000,
    text: `turn ${index}`, toolCalls: [], usage: { inputTokens: 1, outputTokens: 2 }, cost: 3,
  });
  const all = Array.from({ length: 5 }, (_, i) => modelStep(i));

  /** A fake API: pages of `limit` steps after the cursor (the cursor is the last index, as the real one hides). */
  function fakeApi() {
    const urls: URL[] = [];
    const fetch = (async (input: string | URL | Request) => {
      const url = new URL(String(input));
      urls.push(url);
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const after = url.searchParams.has('cursor') ? Number(url.searchParams.get('cursor')) : -1;
      const data = all.filter((s) => s.index > after).slice(0, limit);
      const last = data[data.length - 1];
      const body = { data, nextCursor: data.length === limit && last ? String(last.index) : null };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof globalThis.fetch;
    return { urls, rw: new Runway({ baseUrl: 'http://api.test', apiKey: 'rwk_test', fetch }) };
  }

  test('awaited: one page, from the cursor given', async () => {
    const { rw, urls } = fakeApi();
    const first = await rw.runs.steps('run_a/b', { limit: 2 });
    expect(first.data.map((s) => s.index)).toEqual([0, 1]);
    expect(first.nextCursor).toBe('1');
    expect(urls[0]?.pathname).toBe('/v1/runs/run_a%2Fb/steps');
    const second = await rw.runs.steps('run_a/b', { limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second.data.map((s) => s.index)).toEqual([2, 3]);
    expect(urls).toHaveLength(2);
  });

  test('iterated: every step from the cursor on, page by page; nothing is fetched before use', async () => {
    const { rw, urls } = fakeApi();
    const steps = rw.runs.steps('run_x', { limit: 2 });
    expect(urls).toHaveLength(0);
    const seen: RunStep[] = [];
    for await (const step of steps) seen.push(step);
    expect(seen.map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
    expect(urls.map((u) => u.searchParams.get('cursor'))).toEqual([null, '1', '3']);
    const rest: number[] = [];
    for await (const step of rw.runs.steps('run_x', { limit: 2, cursor: '1' })) rest.push(step.index);
    expect(rest).toEqual([2, 3, 4]);
  });

  test('a failed call rejects the await like any call', async () => {
    const fetch = (async () => new Response(JSON.stringify({ type: 'about:blank', title: 'Not found', status: 404, code: 'not-found' }), {
      status: 404, headers: { 'content-type': 'application/problem+json' },
    })) as typeof globalThis.fetch;
    const rw = new Runway({ baseUrl: 'http://api.test', apiKey: 'rwk_test', fetch });
    await expect(rw.runs.steps('run_missing')).rejects.toMatchObject({ status: 404 });
  });
});
