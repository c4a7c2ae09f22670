import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';

/** One event exactly as the server sent it (no de-duplication, no reconnection). */
export interface SseMessage {
  id: number | null;
  type: string;
  data: unknown;
}

/**
 * A raw event-stream reader for tests: it records every event and comment as sent, so that a
 * duplicate or a gap made by the server shows up instead of being smoothed over by a client.
 */
export class SseConnection {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  /** True once the server ended the stream (as opposed to us closing it). */
  endedByServer = false;
  readonly done: Promise<void>;

  private constructor(
    readonly status: number,
    readonly headers: Headers,
    private readonly abort: AbortController,
    body: ReadableStream<Uint8Array> | null,
  ) {
    this.done = this.read(body);
  }

  static async open(url: string, headers: Record<string, string>): Promise<SseConnection> {
    const abort = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    return new SseConnection(res.status, res.headers, abort, res.ok ? res.body : null);
  }

  get ids(): number[] {
    return this.messages.flatMap((m) => (m.id === null ? [] : [m.id]));
  }

  /** Waits until the predicate holds over the messages so far. */
  async waitFor(predicate: (messages: SseMessage[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.messages)) {
      if (this.endedByServer) throw new Error(`stream ended first; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.messages.length} messages`);
      await sleep(10);
    }
  }

  /** Waits for the server to end the stream. */
  async finished(timeoutMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.done,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('stream did not end')), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.abort.abort();
  }

  private async read(body: ReadableStream<Uint8Array> | null): Promise<void> {
    if (!body) return;
    const parser = createParser({
      onEvent: (e) => this.messages.push({ id: e.id ? Number(e.id) : null, type: e.event ?? 'message', data: JSON.parse(e.data) }),
      onComment: (c) => this.comments.push(c.trim()),
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
      this.endedByServer = true;
    } catch {
      // aborted by close()
    }
  }
}

/** Applies the documented reset rule: a `reset` drops every delta before it. */
export function outputOf(messages: SseMessage[]): string {
  let output = '';
  for (const m of messages) {
    if (m.type === 'reset') output = '';
    if (m.type === 'delta') output += (m.data as { text: string }).text;
  }
  return output;
}

/** Asserts-friendly check that ids run from `from` to `to` with no gap and no repeat. */
export function expectContiguous(ids: number[], from: number, to: number): void {
  expect(ids).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

/** `n` words, so a demo/echo run streams `n` tokens. */
export function words(n: number, tag = 'w'): string {
  return Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');
}
