import { rmSync } from 'node:fs';
import pg from 'pg';
import type { EmbeddedPostgres } from '../src/db/embedded-postgres';
import type { DevServer } from '../src/temporal/dev-server';

/** Stops the test stack's Temporal server, drops its database, stops an embedded PostgreSQL. */
export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as Record<string, unknown>).__runwayTestStack as
    | { server: DevServer; databaseUrl: string; workDir: string; embedded?: EmbeddedPostgres }
    | undefined;
  if (!stack) return;
  await stack.server.stop();
  const url = new URL(stack.databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await client.end();
  await stack.embedded?.stop();
  rmSync(stack.workDir, { recursive: true, force: true });
}
