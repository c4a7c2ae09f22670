import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const exec = promisify(execFile);

/**
 * Every row of the database as text, for tests that search it for something that must not be
 * stored. `pg_dump` when it can; on a machine whose only server is the embedded one (newer than
 * the Debian client, which then refuses to dump it), each table's rows in PostgreSQL's own text
 * form instead — the same data, read through SQL.
 */
export async function databaseDump(databaseUrl: string, args: string[] = []): Promise<string> {
  try {
    return (await exec('pg_dump', [...args, databaseUrl], { maxBuffer: 512 * 1024 * 1024 })).stdout;
  } catch (err) {
    if (!/server version mismatch/.test(String((err as { stderr?: string }).stderr))) throw err;
    process.stderr.write('pg_dump is older than the server; dumping the rows through SQL\n');
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
    );
    const parts: string[] = [];
    for (const { name } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
      parts.push(`-- ${name}`, ...rows.rows.map((r) => r.row));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}
