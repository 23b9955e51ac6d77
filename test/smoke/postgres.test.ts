// Both PostgreSQL flavours take the same migrations and answer the same SQL.
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPglite, openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { kubeqaMeta } from '../../domain/db/schema.js';
import { createDatabase, testEnv } from '../env/index.js';

const opened: OpenDatabase[] = [];
afterAll(async () => {
  for (const db of opened) await db.close();
});

async function roundTrip(database: OpenDatabase): Promise<void> {
  await migrate(database);
  // Applying again is a no-op, not an error.
  await migrate(database);
  const applied = await database.query<{ n: number }>(
    'select count(*)::int as n from drizzle.__drizzle_migrations',
  );
  expect(applied[0]?.n).toBeGreaterThanOrEqual(1);
  await database.db.insert(kubeqaMeta).values({ key: 'smoke', value: database.kind });
  const rows = await database.db.select().from(kubeqaMeta).where(sql`${kubeqaMeta.key} = 'smoke'`);
  expect(rows).toHaveLength(1);
  expect(rows[0]?.value).toBe(database.kind);
  expect(rows[0]?.updatedAt).toBeInstanceOf(Date);
  // The primary key holds: a second row with the same key is refused.
  await expect(database.db.insert(kubeqaMeta).values({ key: 'smoke', value: 'again' })).rejects.toThrow();
}

describe('PostgreSQL 15 (Debian) started by the harness', () => {
  it('applies the migrations and round-trips a row', async () => {
    const pg = await testEnv.postgres();
    const database = openPostgres({ url: await createDatabase(pg, 'smoke') });
    opened.push(database);
    const [version] = await database.query<{ server_version: string }>('show server_version');
    expect(version?.server_version).toMatch(/^15\./);
    await roundTrip(database);
  });
});

describe('embedded PostgreSQL (PGlite)', () => {
  it('applies the same migrations and round-trips a row', async () => {
    const database = await openPglite();
    opened.push(database);
    await roundTrip(database);
  });
});
