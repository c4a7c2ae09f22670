import { RunwayError } from './errors.js';

export interface RunwayOptions {
  /** Where the API is, e.g. `https://runway.example.com`. */
  baseUrl: string;
  /** The account's API key (server side only). */
  apiKey?: string;
  /** A scoped token (`POST /v1/tokens`, or a 202's `publicAccessToken`): safe in a browser. */
  token?: string;
  /** Attempts after the first for a call that is safe to repeat (default 4). */
  maxRetries?: number;
  /** Per attempt, for calls that are not streams (default 30 s). */
  timeoutMs?: number;
  /** Another fetch (tests, instrumentation). */
  fetch?: typeof fetch;
}

/**
 * When a failed attempt may be repeated:
 * - `safe`: the call changes nothing, or the server makes a repeat harmless (GET, a stop, a call
 *   with an Idempotency-Key): after a network error, a timeout, 429, 502, 503 or 504.
 * - `refused`: only after answers that guarantee nothing happened (429).
 */
export type RetryPolicy = 'safe' | 'refused';

export interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  retry: RetryPolicy;
  signal?: AbortSignal;
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_DELAY_MS = 30_000;

export function backoffMs(attempt: number, retryAfter?: string | null): number {
  const seconds = retryAfter ? Number(retryAfter) : NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_DELAY_MS);
  const base = Math.min(250 * 2 ** attempt, MAX_DELAY_MS);
  return base / 2 + Math.random() * (base / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/** The transport: credentials, JSON, problem+json errors and the retry rules. */
export class Http {
  readonly baseUrl: string;
  private readonly fetch: typeof fetch;

  constructor(readonly options: RunwayOptions) {
    if (!options.apiKey && !options.token) throw new TypeError('Runway needs an apiKey or a token');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  get credential(): string {
    return (this.options.token ?? this.options.apiKey) as string;
  }

  url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  /** One call: JSON in and out; a RunwayError for every answer that is not 2xx. */
  async call<T>(method: string, path: string, options: CallOptions): Promise<T> {
    const maxRetries = this.options.maxRetries ?? 4;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.attempt(method, path, options);
      } catch (err) {
        if (options.signal?.aborted) throw err;
        if (options.retry !== 'safe' || attempt >= maxRetries) {
          throw new RunwayError(0, 'about:blank', 'Unreachable', `the API could not be reached: ${(err as Error).message}`);
        }
        await sleep(backoffMs(attempt), options.signal);
        continue;
      }
      if (res.ok) return (res.status === 204 ? undefined : await res.json()) as T;
      const repeatable = options.retry === 'safe' ? RETRYABLE.has(res.status) : res.status === 429;
      if (!repeatable || attempt >= maxRetries) throw await RunwayError.fromResponse(res);
      await res.body?.cancel();
      await sleep(backoffMs(attempt, res.headers.get('retry-after')), options.signal);
    }
  }

  private async attempt(method: string, path: string, options: CallOptions): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    return this.fetch(this.url(path, options.query), {
      method,
      headers: {
        authorization: `Bearer ${this.credential}`,
        accept: 'application/json',
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      signal,
    });
  }

  /** A raw GET for event streams (no timeout: a stream lasts as long as its run). */
  async open(path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    return this.fetch(this.url(path), {
      headers: { authorization: `Bearer ${this.credential}`, accept: 'text/event-stream', ...headers },
      signal,
    });
  }
}
