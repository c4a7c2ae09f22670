import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { excerpt } from '../text';
import { httpError, redirectError, transportError } from './http-errors';
import { ProviderError } from './types';

export interface EventStreamRequest {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  /** The caller's stop: aborts the request at once and is rethrown as is. */
  signal: AbortSignal;
  /** Longest silence (before the answer's headers, or between two reads) before the call counts as hung. */
  idleTimeoutMs: number;
}

/** HTAB, space and visible ASCII: fetch would otherwise refuse the value and quote it in its error. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * POSTs a JSON body and yields the server-sent events of the answer. Non-2xx answers become
 * classified ProviderErrors (with Retry-After); a hung server becomes a retryable timeout.
 */
export async function* postEventStream(req: EventStreamRequest): AsyncGenerator<EventSourceMessage> {
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HEADER_VALUE.test(value)) {
      throw new ProviderError(`the ${name} header is not a valid HTTP header value (is the API key well formed?)`, 'invalid_api_key', false);
    }
  }
  const idle = new AbortController();
  const signal = AbortSignal.any([req.signal, idle.signal]);
  const timer = setTimeout(() => idle.abort(), req.idleTimeoutMs);
  try {
    let response: Response;
    try {
      response = await fetch(req.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...req.headers },
        body: JSON.stringify(req.body),
        signal,
        // A followed redirect would resend the key to wherever the Location points (fetch drops
        // only Authorization across origins, never x-api-key): the call fails instead.
        redirect: 'manual',
      });
    } catch (err) {
      throw transportError(err, req.signal, idle.signal);
    }
    if (response.status >= 300 && response.status < 400) throw await redirectError(response);
    if (!response.ok || !response.body) throw await httpError(response);

    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        let read: Awaited<ReturnType<typeof reader.read>>;
        try {
          read = await reader.read();
        } catch (err) {
          throw transportError(err, req.signal, idle.signal);
        }
        if (read.done) return;
        timer.refresh();
        parser.feed(decoder.decode(read.value, { stream: true }));
        for (const event of events.splice(0)) yield event;
      }
    } finally {
      // Also runs when the consumer stops early (spend cap): closes the connection to the provider.
      // Silent on purpose: cancel only rejects when the stream already failed, and that failure
      // (if it matters) was thrown from read() above.
      reader.cancel().catch(() => undefined);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Parses one event's JSON payload; garbage is a retryable protocol error (proxies cut streams). */
export function parseEventJson<T>(event: EventSourceMessage): T {
  try {
    return JSON.parse(event.data) as T;
  } catch {
    throw new ProviderError(`provider sent invalid JSON: ${excerpt(event.data, 200)}`, 'provider_protocol', true);
  }
}
