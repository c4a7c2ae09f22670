import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { ACTIVE_STATUSES } from '../../workflows/run-vocabulary';
import type { Db } from './database';
import { PREPARING_AT_MOST } from './sessions';

/**
 * A repeatable step: SQL that defines an object in full (`CREATE OR REPLACE …`), run after the
 * versioned migrations whenever its text changes. The rules written there have one copy, in
 * their own file, instead of one per migration that changed them.
 */
export interface RepeatableSql {
  /** Its key in `repeatable_sql` (the file's name without `.sql`). */
  name: string;
  text: string;
}

/**
 * Values the files name as `{{placeholder}}`: facts the TypeScript owns, written into the SQL as
 * literals (so that plans can use the partial indexes built on the same lists). They are filled
 * in before hashing, so changing one replaces the function too.
 */
const PLACEHOLDERS: Record<string, string> = {
  active_statuses: ACTIVE_STATUSES.map((s) => `'${s}'`).join(', '),
  preparing_at_most: PREPARING_AT_MOST,
};

const FILES = ['runway_admit'];

/** The text of `src/db/sql/<name>.sql`, placeholders filled in (an unknown one is an error). */
export function renderSqlFile(name: string, values: Record<string, string> = PLACEHOLDERS): RepeatableSql {
  const raw = readFileSync(path.join(__dirname, 'sql', `${name}.sql`), 'utf8');
  const text = raw.replace(/\{\{(\w+)\}\}/g, (_whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`${name}.sql: unknown placeholder {{${key}}}`);
    return value;
  });
  return { name, text };
}

/** The repeatable files, in the order they are applied. */
export function repeatableFiles(): RepeatableSql[] {
  return FILES.map((name) => renderSqlFile(name));
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Runs each file whose text differs from the one last applied (by hash), in one transaction
 * under an advisory lock: processes migrating at once wait for each other, and the later ones
 * find the hash stored and do nothing. Returns the names of the files it ran.
 */
export async function applyRepeatable(db: Db, files: RepeatableSql[] = repeatableFiles()): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('runway_repeatable_sql'))`.execute(trx);
    const applied: string[] = [];
    for (const file of files) {
      const hash = sha256(file.text);
      const stored = await sql<{ sha256: string }>`SELECT sha256 FROM repeatable_sql WHERE name = ${file.name}`.execute(trx);
      if (stored.rows[0]?.sha256 === hash) continue;
      await sql.raw(file.text).execute(trx);
      await sql`
        INSERT INTO repeatable_sql (name, sha256) VALUES (${file.name}, ${hash})
        ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()`.execute(trx);
      applied.push(file.name);
    }
    return applied;
  });
}
