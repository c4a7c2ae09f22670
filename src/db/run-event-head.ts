import type { Db } from './database';

/**
 * The id of the latest committed event of a stream (a run, or a session's own log), 0 when it
 * has none. Read from the log itself (its primary key), so it serves every kind of stream.
 */
export async function runEventHead(db: Db, streamId: string): Promise<number> {
  const row = await db
    .selectFrom('run_events')
    .select((eb) => eb.fn.max('id').as('head'))
    .where('run_id', '=', streamId)
    .executeTakeFirst();
  return Number(row?.head ?? 0);
}
