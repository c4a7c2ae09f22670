import { z } from 'zod';
import { safeJson } from '../text';

/**
 * The wire format of the run event notifications (PostgreSQL NOTIFY payloads), encoded by the
 * worker and decoded by every API process: both sides live here.
 *
 * On the events channel a payload is either
 * - inline events, many runs to a payload: `[[runId, [[id, type, data], …]], …]`, so that API
 *   processes deliver them without reading the table and PostgreSQL sends a few notifications
 *   per commit instead of one per run; or
 * - the short notice `runId:lastId`, for a run whose events do not fit (or a writer that does not
 *   inline them): its readers query the table.
 * On the volatile channel a payload is one whole event: `{runId, type, data}`.
 */

/** PostgreSQL channel carrying a run's new persisted events (or `runId:lastId`) on commit. */
export const RUN_EVENTS_CHANNEL = 'runway_run_events';
/** Channel for volatile events (never stored): the payload is the whole JSON event. */
export const RUN_VOLATILE_CHANNEL = 'runway_run_volatile';

/** NOTIFY payloads are limited to 8,000 bytes; stay under it with room for multi-byte text. */
export const MAX_NOTICE_BYTES = 7_500;
/** Volatile events over this size are not published (they are small progress ticks). */
export const MAX_VOLATILE_BYTES = 7_900;

/** A persisted event as it is inlined: `data` is its JSON text (keys in jsonb's order). */
export interface NoticeEventRow {
  id: number;
  type: string;
  data: string;
}

/** A persisted event as decoded: `json` is its data's JSON text, ready for clients. */
export interface NoticeEvent {
  id: number;
  type: string;
  json: string;
}

export type DecodedNotice =
  | { kind: 'inline'; runs: { runId: string; events: NoticeEvent[] }[] }
  /** `lastId` is NaN when the notice does not say (then readers query the table anyway). */
  | { kind: 'head'; runId: string; lastId: number };

export interface VolatileNotice {
  runId: string;
  type: string;
  json: string;
}

/** The short notice: the run gained events up to `lastId`. Stream ids (`run_…`, `ses_…`) never start with `[`. */
export function encodeHeadNotice(runId: string, lastId: number): string {
  return `${runId}:${lastId}`;
}

/**
 * The NOTIFY payloads of one batch of runs' new events, inlined many runs to a payload, each
 * payload under {@link MAX_NOTICE_BYTES}; a run whose events alone do not fit gets the short
 * notice. Add every run, then take `payloads()`.
 */
export class InlineNotices {
  private readonly done: string[] = [];
  private open: string[] = [];
  private openBytes = 2;

  add(runId: string, lastId: number, rows: NoticeEventRow[]): void {
    const entry = `[${JSON.stringify(runId)},[${rows.map((r) => `[${r.id},${JSON.stringify(r.type)},${r.data}]`).join(',')}]]`;
    const bytes = Buffer.byteLength(entry) + 1;
    if (bytes + 2 > MAX_NOTICE_BYTES) {
      this.done.push(encodeHeadNotice(runId, lastId));
      return;
    }
    if (this.openBytes + bytes > MAX_NOTICE_BYTES) this.close();
    this.open.push(entry);
    this.openBytes += bytes;
  }

  payloads(): string[] {
    this.close();
    return this.done;
  }

  private close(): void {
    if (this.open.length > 0) this.done.push(`[${this.open.join(',')}]`);
    this.open = [];
    this.openBytes = 2;
  }
}

const inlinePayloadSchema = z.array(z.tuple([z.string(), z.array(z.tuple([z.number().int().positive(), z.string(), z.unknown()]))]));
const volatilePayloadSchema = z.object({ runId: z.string(), type: z.string(), data: z.record(z.string(), z.unknown()) });

/** Decodes an events-channel payload; throws on a malformed inline payload. */
export function decodeEventsNotice(payload: string): DecodedNotice {
  if (payload.startsWith('[')) {
    const entries = inlinePayloadSchema.parse(JSON.parse(payload));
    return {
      kind: 'inline',
      runs: entries.map(([runId, events]) => ({
        runId,
        events: events.map(([id, type, data]) => ({ id, type, json: JSON.stringify(data) })),
      })),
    };
  }
  const sep = payload.lastIndexOf(':');
  return { kind: 'head', runId: payload.slice(0, sep), lastId: Number(payload.slice(sep + 1)) };
}

/** The volatile-channel payload of an event, or null when it is too big to publish. */
export function encodeVolatileNotice(runId: string, event: { type: string; data: Record<string, unknown> }): string | null {
  const payload = safeJson({ runId, type: event.type, data: event.data });
  return Buffer.byteLength(payload) > MAX_VOLATILE_BYTES ? null : payload;
}

/** Decodes a volatile-channel payload; throws when it is malformed. */
export function decodeVolatileNotice(payload: string): VolatileNotice {
  const parsed = volatilePayloadSchema.parse(JSON.parse(payload));
  return { runId: parsed.runId, type: parsed.type, json: JSON.stringify(parsed.data) };
}
