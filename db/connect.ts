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
  /** Runs `work` in one transaction (committed when it resolves, rolled back when it throws). */
  transaction<T>(work: (query: QueryFn) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; resolves once listening, with a function that stops it. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Plain SQL with positional parameters ($1, $2, …), rows back. */
export type QueryFn = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

export interface PostgresOptions {
  url: string;
  /** Connections in the pool (default 10). */
  max?: number;
}

/** int8 (ids, counts) as JavaScript numbers on both flavours: ids stay far below 2^53. */
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function openPostgres(options: PostgresOptions): OpenDatabase {
  const pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 10, types: pgTypes });
  return {
    kind: 'postgres',
    db: drizzlePg(pool, { schema }),
    async query<T>(sql: string, params: unknown[] = []) {
      const result = await pool.query(sql, params);
      return result.rows as T[];
    },
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await work(async (sql, params = []) => (await client.query(sql, params)).rows);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    async listen(channel, onPayload) {
      // A dedicated connection: a pooled one would be handed to other queries.
      const client = new pg.Client({ connectionString: options.url });
      await client.connect();
      client.on('notification', (message) => {
        if (message.channel === channel) onPayload(message.payload ?? '');
      });
      client.on('error', () => undefined);
      await client.query(`listen ${pg.escapeIdentifier(channel)}`);
      return async () => {
        await client.end().catch(() => undefined);
      };
    },
    close: () => pool.end(),
  };
}

/** The embedded database; `dataDir` keeps it on disk between runs, undefined keeps it in memory. */
export async function openPglite(dataDir?: string): Promise<OpenDatabase> {
  const parsers = { [INT8_OID]: (value: string) => Number(value) };
  const client = dataDir ? await PGlite.create(dataDir, { parsers }) : await PGlite.create({ parsers });
  return {
    kind: 'pglite',
    db: drizzlePglite(client, { schema }),
    async query<T>(sql: string, params: unknown[] = []) {
      const result = await client.query(sql, params);
      return result.rows as T[];
    },
    transaction: (work) =>
      client.transaction((tx) =>
        work(async (sql, params = []) => (await tx.query(sql, params)).rows as never[]),
      ),
    async listen(channel, onPayload) {
      const stop = await client.listen(channel, onPayload);
      return async () => {
        await stop();
      };
    },
    close: () => client.close(),
  };
}
