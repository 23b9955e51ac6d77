// Applies the drizzle-kit migrations in domain/db/migrations (idempotent: applied ones are
// recorded in drizzle.__drizzle_migrations and skipped).
import { join } from 'node:path';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { packageRoot } from '../runtime/package-root.js';
import { type OpenDatabase, openPostgres, type Schema } from './connect.js';

export const MIGRATIONS_FOLDER = join(packageRoot(), 'domain', 'db', 'migrations');

export async function migrate(database: OpenDatabase): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_FOLDER };
  if (database.kind === 'postgres') await migratePg(database.db as NodePgDatabase<Schema>, config);
  else await migratePglite(database.db as PgliteDatabase<Schema>, config);
}

/** An arbitrary constant: the key of the advisory lock taken while migrating. */
const MIGRATION_LOCK = 7_135_424_001;

/**
 * Migrates the PostgreSQL database at `url` while holding an advisory lock, so that processes
 * starting together (web UI replicas, the operator) migrate one at a time. The lock is
 * session-level: it is taken and released on one dedicated connection.
 */
export async function migrateExclusively(url: string): Promise<void> {
  const single = openPostgres({ url, max: 1 });
  try {
    await single.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migrate(single);
    } finally {
      await single.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await single.close();
  }
}
