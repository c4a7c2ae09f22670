import { runStatusValues, type components, type paths } from './api-types.js';
import { Http, type RunwayOptions } from './http.js';
import { followStream, type RunwayEvent, type StreamOptions } from './stream.js';

type Schemas = components['schemas'];
/** A request body whose fields with server-side defaults may be left out. */
type Input<T, Defaulted extends keyof T> = Omit<T, Defaulted> & Partial<Pick<T, Defaulted>>;

export type Run = Schemas['Run'];
export type RunAccepted = Schemas['RunAccepted'];
export type CreateRun = Input<Schemas['CreateRun'], 'model' | 'maxTokens' | 'metadata'>;
export type Session = Schemas['Session'];
export type CreateSession = Input<Schemas['CreateSession'], 'model' | 'maxTokens' | 'contextTokens' | 'metadata' | 'multitask'>;
export type SessionRequest = Input<Schemas['SessionRequest'], 'metadata'>;
export type SessionRequestAccepted = Schemas['SessionRequestAccepted'];
export type CreateToken = Input<Schemas['CreateToken'], 'permissions' | 'expiresIn'>;
export type CreatedToken = Schemas['CreatedToken'];
export type Webhook = Schemas['Webhook'];
export type CreatedWebhook = Schemas['CreatedWebhook'];
export type CreateWebhook = Schemas['CreateWebhook'];
export type UpdateWebhook = Schemas['UpdateWebhook'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type RunStatus = Run['status'];
export type SessionStatus = Session['status'];
export type Account = Schemas['Account'];
export type LedgerEntry = Schemas['LedgerEntry'];
/** One step of an agent run's transcript: a model turn or a tool call (`kind`). */
export type RunStep = Schemas['RunStep'];

/** The JSON body of an operation's 202 answer, as the OpenAPI document declares it. */
type Accepted<Path extends keyof paths, Method extends 'post' | 'delete'> = paths[Path][Method] extends {
  responses: { 202: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

/** One page of a list: `nextCursor` asks for the next one (null: this is the last). */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * A fresh Idempotency-Key: the same one is sent on every attempt of one call. Browsers offer
 * `randomUUID` only in secure contexts (HTTPS, localhost); `getRandomValues` everywhere.
 */
function newKey(): string {
  const crypto = globalThis.crypto;
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Every run status, in the order a run goes through them (the OpenAPI document's enum). */
export const runStatuses: readonly RunStatus[] = runStatusValues;
const terminalStatuses: readonly RunStatus[] = ['succeeded', 'failed', 'stopped'];

/** A run in a terminal status never changes again; any other status is active. */
export function isTerminal(status: RunStatus): boolean {
  return terminalStatuses.includes(status);
}

const enc = encodeURIComponent;

/** Every item of a list, page by page (follows `nextCursor`). */
async function* pages<T>(http: Http, path: string, query: Record<string, string | number | undefined>, from?: string): AsyncGenerator<T> {
  let cursor = from;
  do {
    const page = await http.call<Page<T>>('GET', path, { query: { ...query, cursor }, retry: 'safe' });
    yield* page.data;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/**
 * A paged list that is both one page and every item: `await` it for the page asked for (one call),
 * or iterate it with `for await` for every item from there on, page by page. Each use makes its
 * own calls; nothing is fetched until it is awaited or iterated.
 */
export class PagedList<T> implements PromiseLike<Page<T>>, AsyncIterable<T> {
  constructor(
    private readonly http: Http,
    private readonly path: string,
    private readonly query: { limit?: number; cursor?: string },
  ) {}

  // A thenable on purpose: `await runs.steps(id)` is the page, like a promise of it.
  then<A = Page<T>, B = never>(onFulfilled?: ((page: Page<T>) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.http.call<Page<T>>('GET', this.path, { query: this.query, retry: 'safe' }).then(onFulfilled, onRejected);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    const { cursor, ...query } = this.query;
    return pages<T>(this.http, this.path, query, cursor);
  }
}

class Runs {
  constructor(private readonly http: Http) {}

  /** Starts a run. Always idempotent: a generated key (or yours) makes a retried create one run. */
  create(body: CreateRun, options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<RunAccepted> {
    const headers = { 'idempotency-key': options.idempotencyKey ?? newKey() };
    return this.http.call('POST', '/v1/runs', { body, headers, retry: 'safe', signal: options.signal });
  }

  get(id: string): Promise<Run> {
    return this.http.call('GET', `/v1/runs/${enc(id)}`, { retry: 'safe' });
  }

  list(query: { status?: RunStatus; user?: string; sessionId?: string; limit?: number } = {}): AsyncGenerator<Run> {
    return pages<Run>(this.http, '/v1/runs', query);
  }

  /**
   * An agent run's transcript, oldest first (a plain run has none): `await` it for one page
   * (`limit`, default 50; `cursor`: a page's `nextCursor`), or `for await` it for every step.
   */
  steps(id: string, query: { limit?: number; cursor?: string } = {}): PagedList<RunStep> {
    return new PagedList<RunStep>(this.http, `/v1/runs/${enc(id)}/steps`, query);
  }

  /** Stopping twice is harmless (202 again while stopping), so a stop is retried. */
  stop(id: string): Promise<Accepted<'/v1/runs/{id}/stop', 'post'>> {
    return this.http.call('POST', `/v1/runs/${enc(id)}/stop`, { retry: 'safe' });
  }

  delete(id: string): Promise<void> {
    return this.http.call('DELETE', `/v1/runs/${enc(id)}`, { retry: 'refused' });
  }

  retry(id: string, body: { secrets?: { apiKey?: string } } = {}, options: { idempotencyKey?: string } = {}): Promise<RunAccepted> {
    const headers = { 'idempotency-key': options.idempotencyKey ?? newKey() };
    return this.http.call('POST', `/v1/runs/${enc(id)}/retry`, { body, headers, retry: 'safe' });
  }

  /** The run's events, each once and in order, to its `end`, across dropped connections. */
  stream(id: string, options: StreamOptions = {}): AsyncGenerator<RunwayEvent> {
    return followStream(this.http, `/v1/runs/${enc(id)}/events`, options);
  }

  /** Follows the run to its end and returns it, terminal. */
  async wait(id: string, options: { onEvent?: (event: RunwayEvent) => void; signal?: AbortSignal } = {}): Promise<Run> {
    for await (const event of this.stream(id, { signal: options.signal })) options.onEvent?.(event);
    // The stream's end is written with the terminal status; a read right after it sees that status.
    for (let i = 0; ; i++) {
      const run = await this.get(id);
      if (isTerminal(run.status) || i >= 20) return run;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

class Sessions {
  constructor(private readonly http: Http) {}

  create(body: CreateSession = {}): Promise<Session> {
    // No Idempotency-Key on session creation: only refusals (429) are retried.
    return this.http.call('POST', '/v1/sessions', { body, retry: 'refused' });
  }

  get(id: string): Promise<Session> {
    return this.http.call('GET', `/v1/sessions/${enc(id)}`, { retry: 'safe' });
  }

  list(query: { status?: SessionStatus; user?: string; limit?: number } = {}): AsyncGenerator<Session> {
    return pages<Session>(this.http, '/v1/sessions', query);
  }

  close(id: string): Promise<Accepted<'/v1/sessions/{id}', 'delete'>> {
    return this.http.call('DELETE', `/v1/sessions/${enc(id)}`, { retry: 'safe' });
  }

  /** Sends a request to the session (idempotent like runs.create). */
  request(id: string, body: SessionRequest, options: { idempotencyKey?: string } = {}): Promise<SessionRequestAccepted> {
    const headers = { 'idempotency-key': options.idempotencyKey ?? newKey() };
    return this.http.call('POST', `/v1/sessions/${enc(id)}/requests`, { body, headers, retry: 'safe' });
  }

  getRequest(id: string, requestId: string): Promise<Run & { requestId: string }> {
    return this.http.call('GET', `/v1/sessions/${enc(id)}/requests/${enc(requestId)}`, { retry: 'safe' });
  }

  stopRequest(id: string, requestId: string): Promise<Accepted<'/v1/sessions/{id}/requests/{requestId}/stop', 'post'>> {
    return this.http.call('POST', `/v1/sessions/${enc(id)}/requests/${enc(requestId)}/stop`, { retry: 'safe' });
  }

  /** One request's events (as runs.stream). */
  streamRequest(id: string, requestId: string, options: StreamOptions = {}): AsyncGenerator<RunwayEvent> {
    return followStream(this.http, `/v1/sessions/${enc(id)}/requests/${enc(requestId)}/events`, options);
  }

  /** The session's own log: `request.completed` per request, then `session.closed` and `end`. */
  stream(id: string, options: StreamOptions = {}): AsyncGenerator<RunwayEvent> {
    return followStream(this.http, `/v1/sessions/${enc(id)}/events`, options);
  }
}

class Tokens {
  constructor(private readonly http: Http) {}

  /** Issuing has no effect beyond the token, so it is retried. */
  create(body: CreateToken): Promise<CreatedToken> {
    return this.http.call('POST', '/v1/tokens', { body, retry: 'safe' });
  }

  revokeAll(): Promise<{ revokedAt: string }> {
    return this.http.call('POST', '/v1/tokens/revoke-all', { retry: 'safe' });
  }
}

class Webhooks {
  constructor(private readonly http: Http) {}

  create(body: CreateWebhook): Promise<CreatedWebhook> {
    return this.http.call('POST', '/v1/webhooks', { body, retry: 'refused' });
  }

  get(id: string): Promise<Webhook> {
    return this.http.call('GET', `/v1/webhooks/${enc(id)}`, { retry: 'safe' });
  }

  list(query: { limit?: number } = {}): AsyncGenerator<Webhook> {
    return pages<Webhook>(this.http, '/v1/webhooks', query);
  }

  update(id: string, body: UpdateWebhook): Promise<Webhook> {
    return this.http.call('PATCH', `/v1/webhooks/${enc(id)}`, { body, retry: 'safe' });
  }

  delete(id: string): Promise<void> {
    return this.http.call('DELETE', `/v1/webhooks/${enc(id)}`, { retry: 'refused' });
  }

  rotateSecret(id: string): Promise<{ secret: string }> {
    return this.http.call('POST', `/v1/webhooks/${enc(id)}/rotate-secret`, { retry: 'refused' });
  }

  deliveries(id: string, query: { limit?: number } = {}): AsyncGenerator<WebhookDelivery> {
    return pages<WebhookDelivery>(this.http, `/v1/webhooks/${enc(id)}/deliveries`, query);
  }

  redeliver(id: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.http.call('POST', `/v1/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/retry`, { retry: 'refused' });
  }
}

/** The caller's account: balance and ledger (the account's API key only; a scoped token is refused with 401). */
class AccountApi {
  constructor(private readonly http: Http) {}

  get(): Promise<Account> {
    return this.http.call('GET', '/v1/account', { retry: 'safe' });
  }

  /** Every ledger entry, newest first (break out of the loop to stop after the first ones). */
  ledger(query: { limit?: number } = {}): AsyncGenerator<LedgerEntry> {
    return pages<LedgerEntry>(this.http, '/v1/account/ledger', query);
  }
}

/** The Runway API: `new Runway({ baseUrl, apiKey })` on a server, `{ baseUrl, token }` in a browser. */
export class Runway {
  readonly account: AccountApi;
  readonly runs: Runs;
  readonly sessions: Sessions;
  readonly tokens: Tokens;
  readonly webhooks: Webhooks;

  constructor(options: RunwayOptions) {
    const http = new Http(options);
    this.account = new AccountApi(http);
    this.runs = new Runs(http);
    this.sessions = new Sessions(http);
    this.tokens = new Tokens(http);
    this.webhooks = new Webhooks(http);
  }
}
