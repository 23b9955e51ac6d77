// Applies the drizzle-kit migrations in domain/db/migrations (idempotent: applied ones are
// recorded in drizzle.__drizzle_migrations and skipped).
import { join } from 'node:path';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { packageRoot } from '../runtime/package-root.js';
import type { OpenDatabase, Schema } from './connect.js';

export const MIGRATIONS_FOLDER = join(packageRoot(), 'domain', 'db', 'migrations');

export async function migrate(database: OpenDatabase): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_FOLDER };
  if (database.kind === 'postgres') await migratePg(database.db as NodePgDatabase<Schema>, config);
  else await migratePglite(database.db as PgliteDatabase<Schema>, config);
}
