import fc from 'fast-check';
import {
  decodeEventsNotice,
  decodeVolatileNotice,
  encodeHeadNotice,
  encodeVolatileNotice,
  InlineNotices,
  MAX_NOTICE_BYTES,
  type NoticeEventRow,
} from '../src/db/notify-wire';
import { safeJson, sanitize } from '../src/text';

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more. */
const PG_NOTIFY_LIMIT = 8000;

/** Run ids never start with `[` (that is how an inline payload is told from a short notice). */
const runId = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => !s.startsWith('['));
/** Event data as the batcher inlines it: JSON text, sometimes big enough not to fit a payload. */
const data = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }) },
  { weight: 1, arbitrary: fc.record({ text: fc.string({ unit: 'binary', minLength: 1000, maxLength: 9000 }) }) },
).map((value) => JSON.stringify(value));
const run = fc.record({
  runId,
  firstId: fc.integer({ min: 1, max: 1_000_000 }),
  events: fc.array(fc.record({ type: fc.constantFrom('delta', 'log', 'status'), data }), { minLength: 1, maxLength: 6 }),
});
const batch = fc.uniqueArray(run, { selector: (r) => r.runId, maxLength: 40 });

describe('NOTIFY wire format', () => {
  test('a batch encodes under the payload limit and decodes to every run, once and in order', () => {
    fc.assert(
      fc.property(batch, (runs) => {
        const notices = new InlineNotices();
        const expected = runs.map((r) => {
          const rows: NoticeEventRow[] = r.events.map((e, i) => ({ id: r.firstId + i, type: e.type, data: e.data }));
          const lastId = r.firstId + rows.length - 1;
          notices.add(r.runId, lastId, rows);
          return { runId: r.runId, lastId, rows };
        });
        const payloads = notices.payloads();
        for (const p of payloads) {
          expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_NOTICE_BYTES);
          expect(Buffer.byteLength(p)).toBeLessThan(PG_NOTIFY_LIMIT);
        }
        const decoded = payloads.map(decodeEventsNotice);
        const seen = decoded.flatMap((n) => (n.kind === 'inline' ? n.runs.map((r) => r.runId) : [n.runId]));
        expect([...seen].sort()).toEqual(expected.map((r) => r.runId).sort());
        const inlineOrder = decoded.flatMap((n) => (n.kind === 'inline' ? n.runs.map((r) => r.runId) : []));
        expect(inlineOrder).toEqual(expected.map((r) => r.runId).filter((id) => inlineOrder.includes(id)));
        for (const notice of decoded) {
          if (notice.kind === 'head') {
            const want = expected.find((r) => r.runId === notice.runId);
            expect(notice.lastId).toBe(want?.lastId);
            // Only a run whose events alone cannot fit falls back to the short notice.
            const alone = new InlineNotices();
            alone.add(notice.runId, notice.lastId, want?.rows ?? []);
            expect(alone.payloads()).toEqual([encodeHeadNotice(notice.runId, notice.lastId)]);
            continue;
          }
          for (const r of notice.runs) {
            const want = expected.find((e) => e.runId === r.runId);
            expect(r.events).toEqual(want?.rows.map((row) => ({ id: row.id, type: row.type, json: row.data })));
          }
        }
      }),
    );
  });

  test('the short notice round-trips, colons in the run id included', () => {
    fc.assert(
      fc.property(runId, fc.nat(), (id, lastId) => {
        expect(decodeEventsNotice(encodeHeadNotice(id, lastId))).toEqual({ kind: 'head', runId: id, lastId });
      }),
    );
  });

  test('a malformed inline payload throws (the hub logs and ignores it)', () => {
    expect(() => decodeEventsNotice('[["run_1",[[0,"delta",{}]]]]')).toThrow();
    expect(() => decodeEventsNotice('[not json')).toThrow();
  });

  test('a volatile event round-trips sanitized, and an oversize one is not published', () => {
    const key = fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '__proto__');
    fc.assert(
      fc.property(runId, fc.string(), fc.dictionary(key, fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' })), (id, type, value) => {
        const payload = encodeVolatileNotice(id, { type, data: value });
        if (payload === null) return;
        // Every string of the event is sanitized (NUL, lone surrogates), the run id and type too.
        expect(decodeVolatileNotice(payload)).toEqual({ runId: sanitize(id), type: sanitize(type), json: safeJson(value) });
      }),
    );
    expect(encodeVolatileNotice('run_1', { type: 'progress', data: { message: 'x'.repeat(8000) } })).toBeNull();
  });
});
