import { createParser } from 'eventsource-parser';
import { RunwayError } from './errors.js';
import { backoffMs, sleep, type Http } from './http.js';

/** One event of a run, request or session stream. `id` is null for volatile ones (progress). */
export interface RunwayEvent {
  id: number | null;
  type: string;
  data: unknown;
}

export interface StreamOptions {
  /** Resume after this event id (e.g. the last one a previous stream yielded). */
  after?: number;
  signal?: AbortSignal;
  /** Reconnections in a row that bring no new event before giving up (default 10). */
  maxReconnects?: number;
  /** Called before each reconnection, with the last event id received and why the connection ended. */
  onReconnect?: (info: { lastId: number; reason: string; attempt: number }) => void;
}

const RECONNECTABLE = new Set([429, 502, 503, 504]);

/**
 * Follows an event stream to its `end`: each persisted event once and in id order, across any
 * number of dropped connections (it reconnects with `Last-Event-ID`, after a backoff, to any API
 * process). Keep-alives are not events; an aborted signal ends the iteration.
 */
export async function* followStream(http: Http, path: string, options: StreamOptions = {}): AsyncGenerator<RunwayEvent> {
  let last = options.after ?? 0;
  let idle = 0;
  const maxReconnects = options.maxReconnects ?? 10;
  for (;;) {
    let progressed = false;
    let reason = 'the server closed the stream';
    try {
      const res = await http.open(path, last > 0 ? { 'last-event-id': String(last) } : {}, options.signal);
      if (res.status === 204) return; // finished, nothing after `last`
      if (!res.ok) {
        if (!RECONNECTABLE.has(res.status)) throw await RunwayError.fromResponse(res);
        reason = `the API answered ${res.status}`;
        await res.body?.cancel();
      } else {
        for await (const event of eventsOf(res)) {
          if (event.id !== null) {
            if (event.id <= last) continue; // already yielded before a reconnect
            last = event.id;
          }
          progressed = true;
          yield event;
          if (event.type === 'end') return;
        }
      }
    } catch (err) {
      if (err instanceof RunwayError || options.signal?.aborted) throw err;
      reason = err instanceof Error ? err.message : String(err); // a dropped connection: reconnect below
    }
    idle = progressed ? 0 : idle + 1;
    if (idle > maxReconnects) {
      throw new RunwayError(0, 'about:blank', 'Stream lost', `no new event after ${maxReconnects} reconnections to ${path}`);
    }
    options.onReconnect?.({ lastId: last, reason, attempt: idle });
    await sleep(backoffMs(idle), options.signal);
  }
}

/** The events of one response body, as they arrive. */
async function* eventsOf(res: Response): AsyncGenerator<RunwayEvent> {
  const queue: RunwayEvent[] = [];
  const parser = createParser({
    onEvent: (e) => queue.push({ id: e.id ? Number(e.id) : null, type: e.event ?? 'message', data: JSON.parse(e.data) as unknown }),
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      while (queue.length > 0) yield queue.shift() as RunwayEvent;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The data of the run events the SDK knows the shape of, by event type. */
export interface RunEventData {
  /** Output text as it is generated. */
  delta: { text: string };
  /** The output so far is void: a retried attempt starts it over. */
  reset: { attempt: number; reason: string };
  /** An agent run's step begins: a model turn (whose text starts the output over) or a tool call. */
  step: { index: number; kind: 'model' | 'tool' };
  /** A tool call the model asked for (right after its `step`); `arguments` is the model's JSON text. */
  tool_call: { callId: string; name: string; arguments: string };
  /** A tool call's outcome, as the model is told it: bounded (`truncated` when cut); `error` when the call failed. */
  tool_result: { callId: string; result: string; truncated: boolean; error?: string };
}

/** A run event of a known type, its data typed. */
export type RunEventOf<T extends keyof RunEventData> = RunwayEvent & { type: T; data: RunEventData[T] };

/** Narrows an event to a known type: `if (isEvent(e, 'tool_call')) e.data.name`. */
export function isEvent<T extends keyof RunEventData>(event: RunwayEvent, type: T): event is RunEventOf<T> {
  return event.type === type;
}

/**
 * A run's output from its events, by the server's rule: the text of the `delta` events after the
 * last `reset` (a retried attempt) or, in an agent run, after the last model turn's `step` (the
 * output is the final answer; earlier turns' text is in their steps).
 */
export function textOf(events: Iterable<RunwayEvent>): string {
  let text = '';
  for (const e of events) {
    if (isEvent(e, 'reset') || (isEvent(e, 'step') && e.data.kind === 'model')) text = '';
    if (isEvent(e, 'delta')) text += e.data.text;
  }
  return text;
}
