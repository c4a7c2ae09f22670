import fc from 'fast-check';
import { TerminalView } from '../src/terminal/terminal-view';
import { createDb, createPool } from '../src/db/database';
import { excerpt, safeJson, sanitize, stripTerminalControls, truncate } from '../src/text';

/** Any UTF-16 string, lone surrogates and NUL included (what a hostile model or agent can send). */
const hostile = fc.string({
  unit: fc.oneof(fc.constantFrom('\0', '\ud83d', '\ude00', '😀', 'é', '\x1b', '\x9b'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
  maxLength: 40,
});
/** Well-formed UTF-16: every astral character is a proper pair. */
const wellFormed = fc.string({ unit: fc.constantFrom('a', 'é', '😀', '𝄞', '中'), maxLength: 40 });
/** Round-trips through UTF-8 unchanged exactly when it has no lone surrogate. */
const isWellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;

describe('truncate', () => {
  test('never longer than max, a prefix of the text, and never splits a pair', () => {
    fc.assert(
      fc.property(wellFormed, fc.nat(45), fc.constantFrom('', '…'), (text, max, ellipsis) => {
        fc.pre(max >= ellipsis.length);
        const cut = truncate(text, max, ellipsis);
        if (text.length <= max) return cut === text;
        const kept = cut.slice(0, cut.length - ellipsis.length);
        expect(cut.length).toBeLessThanOrEqual(max);
        expect(cut.endsWith(ellipsis)).toBe(true);
        expect(text.startsWith(kept)).toBe(true);
        expect(kept.length).toBeGreaterThanOrEqual(max - ellipsis.length - 1); // drops half a pair at most
        expect(isWellFormed(cut)).toBe(true);
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  test('an emoji at the boundary is dropped whole (the slice it replaces kept half of it)', () => {
    const line = `${'a'.repeat(8191)}😀 tail`;
    expect(isWellFormed(line.slice(0, 8192))).toBe(false);
    expect(truncate(line, 8192)).toBe('a'.repeat(8191));
    expect(truncate('ab😀', 3, '…')).toBe('ab…');
  });
});

describe('sanitize and safeJson', () => {
  test('sanitize: no NUL, no lone surrogate, same length, well-formed text untouched', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const clean = sanitize(text);
        expect(clean).toHaveLength(text.length);
        expect(clean.includes('\0')).toBe(false);
        expect(isWellFormed(clean)).toBe(true);
        if (isWellFormed(text) && !text.includes('\0')) expect(clean).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  test('PostgreSQL jsonb and text accept whatever they produce (and refuse the raw text)', async () => {
    const pool = createPool(process.env.DATABASE_URL as string, 2);
    const db = createDb(pool);
    try {
      await fc.assert(
        fc.asyncProperty(hostile, async (text) => {
          const { rows } = await pool.query('SELECT $1::jsonb AS j, $2::text AS t', [safeJson({ text, nested: [text] }), excerpt(text, 20)]);
          expect(rows[0].j).toEqual({ text: sanitize(text), nested: [sanitize(text)] });
          expect(rows[0].t).toBe(excerpt(text, 20));
        }),
        { numRuns: 300 },
      );
      await expect(pool.query('SELECT $1::jsonb', [JSON.stringify({ text: 'a\ud83d' })])).rejects.toMatchObject({ code: '22P02' });
      await expect(pool.query('SELECT $1::jsonb', [JSON.stringify({ text: 'a\0' })])).rejects.toMatchObject({ code: '22P05' });
    } finally {
      await db.destroy();
    }
  });
});

describe('terminal output', () => {
  const ESCAPES: [string, string, string][] = [
    ['SGR colours', 'red \x1b[31mtext\x1b[0m', 'red text'],
    ['screen clear and cursor home', 'clear\x1b[2J\x1b[H screen', 'clear screen'],
    ['OSC window title ended by BEL', 'title\x1b]0;pwned\x07 bel', 'title bel'],
    ['OSC 52 clipboard write ended by ST', 'clipboard\x1b]52;c;ZXZpbA==\x1b\\ st', 'clipboard st'],
    ['OSC 8 hyperlink', 'link \x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\', 'link here'],
    ['DCS string', 'dcs\x1bP1$r0m\x1b\\ done', 'dcs done'],
    ['8-bit C1 CSI and OSC', 'c1 csi\x9b31m red\x9d0;t\x9c', 'c1 csi red'],
    ['other ESC sequences', 'charset\x1b(0 keypad\x1b= reset\x1bc', 'charset keypad reset'],
    ['C0 controls and DEL', 'cr\roverwrite bs\b del\x7f bell\x07 nul\0', 'croverwrite bs del bell nul'],
    ['tab and newline', 'tabs\tand\nnewlines stay', 'tabs\tand\nnewlines stay'],
    ['an unterminated OSC', 'unterminated \x1b]0;title', 'unterminated '],
    ['a trailing ESC', 'trailing esc\x1b', 'trailing esc'],
    ['plain Unicode', 'ünïcode 😀 中文', 'ünïcode 😀 中文'],
  ];
  test.each(ESCAPES)('%s', (_name, input, shown) => {
    expect(stripTerminalControls(input)).toBe(shown);
  });

  test('no control character but tab and newline survives, whatever the input', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        expect(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(stripTerminalControls(text))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  test('the terminal client strips them from output, logs, errors and progress', () => {
    const out: string[] = [];
    const err: string[] = [];
    const view = new TerminalView({ write: (t: string) => out.push(t), isTTY: true }, { write: (t: string) => err.push(t), isTTY: true });
    view.handle({ id: 1, type: 'progress', data: { step: 'clone', message: 'cloning\x1b]0;owned\x07 repo' } });
    view.handle({ id: 2, type: 'delta', data: { text: 'hello \x1b[2J\x1b]52;c;ZXZpbA==\x07world\r\n' } });
    view.handle({ id: 3, type: 'delta', data: { text: '\x1b[31m' } }); // nothing left to print
    view.handle({ id: 4, type: 'log', data: { stream: 'stderr', line: 'warn \x1b[1Aup' } });
    view.handle({ id: 5, type: 'error', data: { code: 'x', message: 'bad\x9b2J news' } });
    view.handle({ id: 6, type: 'end', data: { status: 'failed' } });
    expect(out.join('')).toBe('hello world\n');
    // The view's own progress line control (\r ESC[K) is the only escape sequence written.
    const stderr = err.join('').replaceAll('\r\x1b[K', '');
    expect(stderr).toContain('clone: cloning repo');
    expect(stderr).toContain('[stderr] warn up');
    expect(stderr).toContain('error x: bad news');
    expect(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(stderr)).toBe(false);
  });
});
