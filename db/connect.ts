// Opening the database: PostgreSQL through `pg` for deployments and tests, or the embedded
// PGlite (PostgreSQL compiled to WebAssembly) for the one-process default. Both get the same
// drizzle schema and the same migrations.
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite, type PgliteDatabase } from 'drizzle-orm/pglite';
import pg from 'pg';
import * as schema from '../domain/db/schema.js';

export type Schema = typeof schema;
export type Database = NodePgDatabase<Schema> | PgliteDatabase<Schema>;

export interface OpenDatabase {
  kind: 'postgres' | 'pglite';
  db: Database;
  /** Plain SQL, for the few places the query builder does not fit. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface PostgresOptions {
  url: string;
  /** Connections in the pool (default 10). */
  max?: number;
}

export function openPostgres(options: PostgresOptions): OpenDatabase {
  const pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 10 });
  return {
    kind: 'postgres',
    db: drizzlePg(pool, { schema }),
    async query<T>(sql: string, params: unknown[] = []) {
      const result = await pool.query(sql, params);
      return result.rows as T[];
    },
    close: () => pool.end(),
  };
}

/** The embedded database; `dataDir` keeps it on disk between runs, undefined keeps it in memory. */
export async function openPglite(dataDir?: string): Promise<OpenDatabase> {
  const client = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  return {
    kind: 'pglite',
    db: drizzlePglite(client, { schema }),
    async query<T>(sql: string, params: unknown[] = []) {
      const result = await client.query(sql, params);
      return result.rows as T[];
    },
    close: () => client.close(),
  };
}
