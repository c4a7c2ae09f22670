import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Db } from './database';
import * as m0001 from './migrations/0001-initial';
import * as m0002 from './migrations/0002-sessions';
import * as m0003 from './migrations/0003-workspace-leftovers';
import * as m0004 from './migrations/0004-admission-outbox';
import * as m0005 from './migrations/0005-webhooks';
import * as m0006 from './migrations/0006-end-users';
import * as m0007 from './migrations/0007-retention';
import * as m0009 from './migrations/0009-webhook-fairness';
import * as m0010 from './migrations/0010-token-budgets';
import * as m0011 from './migrations/0011-storage-bounds';
import * as m0013 from './migrations/0013-webhook-parking';
import * as m0014 from './migrations/0014-overuse';
import * as m0015 from './migrations/0015-compat-floor';
import * as m0016 from './migrations/0016-outbox';
import * as m0017 from './migrations/0017-agent-runs';
import { applyRepeatable } from './repeatable';

/** Migrations are imported statically so they bundle and run the same under tsx, jest and node. */
const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-sessions': m0002,
  '0003-workspace-leftovers': m0003,
  '0004-admission-outbox': m0004,
  '0005-webhooks': m0005,
  '0006-end-users': m0006,
  '0007-retention': m0007,
  '0009-webhook-fairness': m0009,
  '0010-token-budgets': m0010,
  '0011-storage-bounds': m0011,
  '0013-webhook-parking': m0013,
  '0014-overuse': m0014,
  '0015-compat-floor': m0015,
  '0016-outbox': m0016,
  '0017-agent-runs': m0017,
};

/** The versioned migrations, for a Migrator (tests migrate to an earlier version with it). */
export const provider: MigrationProvider = { getMigrations: async () => migrations };

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies pending migrations, then the repeatable SQL files whose text changed (src/db/sql: the
 * functions defined in full there, e.g. `runway_admit`). Kysely holds a PostgreSQL advisory lock
 * during the migrations and the repeatable step its own, so several processes starting at once
 * apply each migration, and each new text, exactly once. Returns what was applied.
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error ?? 'unknown error');
    throw new MigrationError(`Migration ${failed?.migrationName ?? ''} failed: ${reason}`.replace('  ', ' '));
  }
  const migrated = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  const replaced = await applyRepeatable(db).catch((err: unknown) => {
    throw new MigrationError(`Repeatable SQL failed: ${err instanceof Error ? err.message : String(err)}`);
  });
  return [...migrated, ...replaced.map((name) => `${name}.sql`)];
}
