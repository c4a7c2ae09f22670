import { Problem } from './problem';

/** Opaque list cursors: the position is a number, wrapped so clients do not build their own. */
export function encodeCursor(position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const match = /^p:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new Problem(400, 'invalid-cursor', 'Invalid cursor', 'the cursor is not one this API returned');
  return Number(match[1]);
}

export function page<T>(rows: T[], limit: number, positionOf: (row: T) => number) {
  const last = rows[rows.length - 1];
  return { data: rows, nextCursor: rows.length === limit && last ? encodeCursor(positionOf(last)) : null };
}
