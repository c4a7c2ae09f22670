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

/**
 * The database could not be reached or dropped the connection: refused or reset sockets, a
 * connection timeout, SQLSTATE class 08 (connection exception), 57P01–57P03 (the server shutting
 * down or starting), 53300 (too many connections). Transient: the same request may succeed soon.
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', '57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  // By shape, not instanceof: socket errors come from Node's own realm (not jest's, for one).
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (Array.isArray(errors)) return errors.some(isDatabaseUnavailable); // AggregateError (several addresses)
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}
