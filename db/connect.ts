// Opening the database: PostgreSQL through `pg` for deployments and tests, or the embedded
// PGlite (PostgreSQL compiled to WebAssembly) for the one-process default. Both get the same
// drizzle schema and the same migrations.
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite, type PgliteDatabase } from 'drizzle-orm/pglite';
import pg from 'pg';
import * as schema from '../domain/db/schema.js';
import { SharedListener } from './pg-listener.js';

export type Schema = typeof schema;
export type Database = NodePgDatabase<Schema> | PgliteDatabase<Schema>;

export interface OpenDatabase {
  kind: 'postgres' | 'pglite';
  db: Database;
  /** Plain SQL, for the few places the query builder does not fit. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs `work` in one transaction (committed when it resolves, rolled back when it throws). */
  transaction<T>(work: (query: QueryFn) => Promise<T>): Promise<T>;
  /**
   * LISTEN on a channel; resolves once listening, with a function that stops it. All channels
   * of one database share one connection (db/pg-listener.ts). A lost connection is
   * re-established (with backoff) and `onReconnect` called: notifications sent meanwhile are
   * lost, so the listener should re-read what it cares about.
   */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    options?: ListenOptions,
  ): Promise<() => Promise<void>>;
  /**
   * Tries to take a session-level advisory lock on a connection of its own and keep it. Resolves
   * with a handle when taken (`lost` settles if the connection drops), null when another session
   * holds it.
   */
  tryAdvisoryLock(key: number): Promise<AdvisoryLock | null>;
  close(): Promise<void>;
}

export interface ListenOptions {
  onReconnect?: () => void;
}

export interface AdvisoryLock {
  /** Resolves when the lock was lost (its connection failed); never after release(). */
  readonly lost: Promise<void>;
  release(): Promise<void>;
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
  const listener = new SharedListener(options.url);
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
    listen(channel, onPayload, listenOptions = {}) {
      // one connection of its own for all channels (a pooled one would be handed to other queries)
      return listener.subscribe(channel, {
        onPayload,
        ...(listenOptions.onReconnect ? { onReconnect: listenOptions.onReconnect } : {}),
      });
    },
    async tryAdvisoryLock(key) {
      const client = new pg.Client({ connectionString: options.url });
      client.on('error', () => undefined);
      await client.connect();
      const [row] = (await client.query('select pg_try_advisory_lock($1) as taken', [key])).rows as {
        taken: boolean;
      }[];
      if (!row?.taken) {
        await client.end().catch(() => undefined);
        return null;
      }
      let released = false;
      const lost = new Promise<void>((resolve) => {
        client.on('end', () => {
          if (!released) resolve();
        });
      });
      return {
        lost,
        async release() {
          released = true;
          await client.query('select pg_advisory_unlock($1)', [key]).catch(() => undefined);
          await client.end().catch(() => undefined);
        },
      };
    },
    async close() {
      await listener.close();
      await pool.end();
    },
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
      // in-process: the connection cannot be lost
      const stop = await client.listen(channel, onPayload);
      return async () => {
        await stop();
      };
    },
    async tryAdvisoryLock() {
      // one process owns the embedded database's files: it always leads
      return { lost: new Promise<void>(() => undefined), release: async () => undefined };
    },
    close: () => client.close(),
  };
}
