import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Database } from './schema';

/**
 * What a caller may see: always one account's rows; a scoped token narrows that to listed runs,
 * listed sessions (with their requests' runs), or one end user's runs and sessions. Applied in
 * the same query that reads the rows, so an id outside it is exactly as missing as an unknown one.
 */
export interface Visibility {
  accountId: string;
  runIds?: readonly string[];
  sessionIds?: readonly string[];
  user?: string;
}

export function runVisibleTo(v: Visibility) {
  return (eb: ExpressionBuilder<Database, 'runs'>): Expression<SqlBool> => {
    const all = [eb('runs.account_id', '=', v.accountId), eb('runs.deleted_at', 'is', null)];
    if (v.runIds) all.push(eb('runs.id', 'in', [...v.runIds]));
    if (v.sessionIds) all.push(eb('runs.session_id', 'in', [...v.sessionIds]));
    if (v.user !== undefined) all.push(eb('runs.user_id', '=', v.user));
    return eb.and(all);
  };
}

export function sessionVisibleTo(v: Visibility) {
  return (eb: ExpressionBuilder<Database, 'sessions'>): Expression<SqlBool> => {
    // A token for runs covers those runs only, never a session.
    if (v.runIds) return eb.lit(false);
    const all = [eb('sessions.account_id', '=', v.accountId)];
    if (v.sessionIds) all.push(eb('sessions.id', 'in', [...v.sessionIds]));
    if (v.user !== undefined) all.push(eb('sessions.user_id', '=', v.user));
    return eb.and(all);
  };
}
