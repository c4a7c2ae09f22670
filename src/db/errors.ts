import pg from 'pg';

/**
 * PostgreSQL refused a statement for what it says: a data exception (class 22: text it cannot
 * store, a value out of range), an integrity violation (23), a statement error (42), a program
 * limit (54) or an error raised by a trigger (P0). The transaction rolled back, so nothing of it
 * was committed, and sending the same statement again fails the same way. Anything else (a lost
 * connection, a deadlock, a restart) may have committed, or may succeed when retried.
 */
const REFUSED = /^(22|23|42|54|P0)/;

export function isRefusedStatement(err: unknown): err is pg.DatabaseError {
  return err instanceof pg.DatabaseError && REFUSED.test(err.code ?? '');
}
