import type { Context } from 'koa';
import { z } from 'zod';
import type { RunRow } from '../../db/schema';
import { isTerminal } from '../../../workflows/run-vocabulary';
import { RunEventStream } from '../../streams/run-event-stream';
import { SseWriter } from '../../streams/sse-writer';
import { metrics } from '../../metrics/metrics';
import { accountOf, callerOf, streamHolderOf } from '../auth';
import type { ApiDeps } from '../deps';
import { endpoint } from '../endpoint';
import { Problem } from '../problem';
import { visibleRun } from './runs';
import { validate } from '../validate';

const eventIdSchema = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a non-negative integer event id')
  .transform(Number)
  .optional();

const resumeSchema = z.object({
  after: eventIdSchema,
  // EventSource sends the header on every reconnection to the original URL, ?after included: the header wins.
  'Last-Event-ID': eventIdSchema,
});

const REPLAY_PAGE_SIZE = 2000;
const RETRY_MS = 1000;

export interface EventStreamTarget {
  /** The stream's id: a run id, or a session id for the session's own log. */
  id: string;
  lastEventId: number;
  /** A finished stream is replayed and closed, with no live part. */
  finished: boolean;
  /** The end user the run or session serves (null: none): a token follows it as that user's holder. */
  user: string | null;
}

/**
 * Serves one event stream: the persisted events after the client's last id, then live ones.
 * Runs, session requests and sessions all stream through here.
 */
export async function serveEventStream(deps: ApiDeps, ctx: Context, target: EventStreamTarget): Promise<void> {
  const hub = deps.events;
  const header = ctx.get('last-event-id').trim();
  const resume = validate(resumeSchema, { after: ctx.query.after, 'Last-Event-ID': header === '' ? undefined : header });
  const afterId = resume['Last-Event-ID'] ?? resume.after ?? 0;
  if (target.finished && afterId >= target.lastEventId) {
    // Nothing left to send, ever: 204 tells EventSource clients to stop reconnecting.
    ctx.status = 204;
    return;
  }

  const { sse } = deps.config;
  const release = takeStreamSlots(deps, ctx, target.user);
  try {
    const sink = new SseWriter(ctx.res, { keepAliveMs: sse.keepAliveMs, retryMs: RETRY_MS, writeTimeoutMs: sse.writeTimeoutMs });
    const stream = new RunEventStream({
      streamId: target.id,
      afterId,
      follow: !target.finished,
      db: deps.db,
      hub,
      sink,
      logger: deps.logger,
      pageSize: REPLAY_PAGE_SIZE,
      maxBufferBytes: sse.maxBufferBytes,
    });
    await stream.subscribe(); // before the first replay query, and before the response starts

    ctx.status = 200;
    ctx.respond = false; // the stream writes the response itself, for as long as the run lasts
    ctx.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    sink.start();
    // A token's stream lasts no longer than the token: until its exp, or a revoke-all.
    const caller = callerOf(ctx);
    const unwatch = caller.kind === 'token'
      ? hub.tokens.watch({ accountId: caller.account.id, generation: caller.grant.generation, expiresAt: caller.expiresAt }, (reason) => stream.stop(reason))
      : undefined;
    metrics.sseConnections.inc();
    const outcome = await stream.run().finally(() => {
      unwatch?.();
      metrics.sseConnections.dec();
    });
    deps.logger.debug({ streamId: target.id, afterId, outcome }, 'event stream closed');
  } finally {
    release(); // however the stream ended: run() returns once the connection is gone
  }
}

/**
 * A slot of the account's streams and, for a scoped token, one of its holder's (an end user's
 * browser tabs cannot take every stream of the account): the release of both, or a 429.
 */
function takeStreamSlots(deps: ApiDeps, ctx: Context, servesUser: string | null): () => void {
  const hub = deps.events;
  const { sse } = deps.config;
  const accountId = accountOf(ctx).id;
  const holder = streamHolderOf(ctx, servesUser);
  const tooMany = (scope: 'account' | 'user', max: number, who: string) =>
    new Problem(429, 'too-many-streams', 'Too many streams', `${who} already has ${max} event streams open; close one first`, { maxStreams: max, scope });
  const account = hub.streams.take(accountId, sse.maxStreamsPerAccount);
  if (!account) throw tooMany('account', sse.maxStreamsPerAccount, 'the account');
  if (!holder) return account;
  const own = hub.streams.take(`${accountId}/${holder}`, sse.maxStreamsPerUser);
  if (!own) {
    account();
    throw tooMany('user', sse.maxStreamsPerUser, 'this token\'s holder');
  }
  return () => {
    own();
    account();
  };
}

/** A run's events: a run's stream, or a session request's (the same run's). */
export function serveRunEvents(deps: ApiDeps, ctx: Context, run: RunRow): Promise<void> {
  return serveEventStream(deps, ctx, {
    id: run.id,
    lastEventId: Number(run.last_event_id),
    finished: isTerminal(run.status),
    user: run.user_id,
  });
}

/**
 * What every event stream declares: who may follow it (a token also as `?access_token=`, for
 * EventSource), how it resumes (documented here, checked by serveEventStream), what it answers.
 */
export const eventStream = {
  method: 'get',
  auth: { token: 'read', query: true },
  headers: z.object({ 'last-event-id': z.string().optional() }),
  query: z.object({
    after: z.coerce.number().int().min(0).optional(),
    access_token: z.string().optional().describe('A scoped token, for EventSource (which cannot send headers); never logged'),
  }),
  responses: {
    200: { description: 'An event stream: persisted events after the cursor, then live ones', content: { 'text/event-stream': { schema: z.string() } } },
    204: { description: 'A finished stream with nothing left to send' },
  },
  problems: {
    400: 'Invalid cursor',
    404: 'No such stream (or outside the token\'s scope)',
    429: 'Too many open streams for this account',
  },
} as const;

/** A run's persisted events after the client's last id, then live ones. */
export const runEventEndpoints = [
  endpoint({
    ...eventStream,
    path: '/v1/runs/{id}/events',
    summary: 'Server-sent events: replay, then live',
    async handle({ ctx, deps, params }) {
      await serveRunEvents(deps, ctx, await visibleRun(deps, ctx, params.id));
    },
  }),
];
