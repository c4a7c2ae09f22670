import { setTimeout as sleep } from 'node:timers/promises';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { stripTerminalControls, truncate } from '../text';

/** One event as a client sees it: `id` is null for volatile events. */
export interface ReceivedEvent {
  id: number | null;
  type: string;
  data: unknown;
}

export interface FollowOptions {
  baseUrl: string;
  apiKey: string;
  runId: string;
  /** Resume after this id (what a previous connection received last). */
  after?: number;
  signal?: AbortSignal;
  /** Called before each reconnection, with why the previous connection ended. */
  onReconnect?: (info: { lastId: number; reason: string; attempt: number }) => void;
  /** Reconnection delay until the server suggests one with `retry:`. */
  retryMs?: number;
}

/** A reply that reconnecting cannot fix (bad key, unknown run, invalid cursor). */
export class FollowError extends Error {
  override name = 'FollowError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Yields a run's events until its `end`, reconnecting after any disconnect with `Last-Event-ID`
 * so that every persisted event arrives exactly once and in order, whichever API process serves
 * each connection. Uses fetch rather than EventSource to send the Authorization header and to
 * tell a final error (4xx) from a transient one.
 */
export async function* followRunEvents(options: FollowOptions): AsyncGenerator<ReceivedEvent> {
  let lastId = options.after ?? 0;
  let retryMs = options.retryMs ?? 1000;
  let failures = 0;
  const url = `${options.baseUrl.replace(/\/+$/, '')}/v1/runs/${encodeURIComponent(options.runId)}/events`;
  for (;;) {
    options.signal?.throwIfAborted();
    let reason: string;
    const connection = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, connection.signal]) : connection.signal;
    try {
      const res = await fetch(url, {
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          accept: 'text/event-stream',
          ...(lastId > 0 ? { 'last-event-id': String(lastId) } : {}),
        },
        signal,
      });
      if (res.status === 204) return; // the run ended and we already have everything
      if (res.status >= 400 && res.status < 500) {
        // Shown on the user's terminal: no escape sequence of the server's gets through.
        const body = stripTerminalControls(truncate(await res.text().catch(() => ''), 500));
        throw new FollowError(res.status, `GET ${url}: ${res.status} ${body}`);
      }
      if (!res.ok || !res.body) throw new Error(`GET ${url}: ${res.status}`);
      failures = 0;
      const pending: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (event) => pending.push(event),
        onRetry: (ms) => (retryMs = ms),
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
        for (const message of pending.splice(0)) {
          const id = message.id ? Number(message.id) : null;
          if (id !== null) {
            if (id <= lastId) continue; // never expected; kept so a caller can rely on "exactly once"
            lastId = id;
          }
          const type = message.event ?? 'message';
          yield { id, type, data: JSON.parse(message.data) as unknown };
          if (type === 'end') return;
        }
      }
      reason = 'the server closed the stream';
    } catch (err) {
      if (err instanceof FollowError || options.signal?.aborted) throw err;
      reason = err instanceof Error ? err.message : String(err);
      failures++;
    } finally {
      connection.abort();
    }
    options.onReconnect?.({ lastId, reason, attempt: failures });
    // Back off while the server stays unreachable, but never longer than 10 s.
    await sleep(Math.min(10_000, retryMs * 2 ** Math.max(0, failures - 1)), undefined, { signal: options.signal });
  }
}
