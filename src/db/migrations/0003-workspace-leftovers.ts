import { sql, type Kysely } from 'kysely';

/**
 * What a workspace cleanup could not remove, for operators: the run (or session) is settled and
 * ended all the same, and its leftover files are listed here until someone deals with them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE workspace_leftovers (
      owner_id   text PRIMARY KEY,
      path       text NOT NULL,
      host_queue text,
      error      text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE workspace_leftovers`.execute(db);
}
