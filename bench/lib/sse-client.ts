import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { wallClockMs } from './clock';

export interface ReceivedEvent {
  id: number | null;
  type: string;
  data: string;
  /** When the chunk carrying it arrived: wall clock (to compare with other processes) and monotonic. */
  wallMs: number;
  monoMs: number;
}

export interface EventStreamClient {
  status: number;
  /** Resolves when the server ends the response (or the connection fails or is closed). */
  done: Promise<void>;
  /** True once the server ended the stream itself. */
  readonly ended: boolean;
  close(): void;
}

export interface OpenOptions {
  url: string;
  apiKey: string;
  lastEventId?: number;
  onEvent: (event: ReceivedEvent) => void;
}

/**
 * A plain event-stream client on node:http (one socket per stream, no reconnection), parsing
 * with eventsource-parser. Each event is stamped when the chunk that carried it arrived, so the
 * parse time of a big chunk counts against the server's delivery, as it would for a real client.
 */
export function openEventStream(options: OpenOptions): Promise<EventStreamClient> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${options.apiKey}` };
    if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
    const req = http.get(options.url, { agent: false, headers }, (res) => {
      let ended = false;
      let wallMs = 0;
      let monoMs = 0;
      const parser = createParser({
        onEvent: (msg) =>
          options.onEvent({
            id: msg.id === undefined ? null : Number(msg.id),
            type: msg.event ?? 'message',
            data: msg.data,
            wallMs,
            monoMs,
          }),
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        wallMs = wallClockMs();
        monoMs = performance.now();
        parser.feed(chunk);
      });
      const done = new Promise<void>((resolveDone) => {
        res.once('end', () => {
          ended = true;
          resolveDone();
        });
        res.once('close', () => resolveDone());
        res.on('error', () => resolveDone()); // aborted by close(): not a failure
      });
      resolve({
        status: res.statusCode ?? 0,
        done,
        get ended() {
          return ended;
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject); // after the response, a no-op: res reports the end
  });
}
