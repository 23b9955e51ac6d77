// LISTEN on real PostgreSQL: every channel of one pool shares one connection, notifications reach
// the subscribers of their channel only, a stopped channel is unlistened, and a cut connection is
// re-established with every subscriber told to re-read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPostgres } from '../../db/connect.js';
import { createDatabase, testEnv } from '../env/index.js';
import { waitUntil } from '../helpers/wait-until.js';

let url: string;
let admin: OpenDatabase;

beforeAll(async () => {
  url = await createDatabase(await testEnv.postgres(), 'pg_listener');
  admin = openPostgres({ url });
});
afterAll(async () => {
  await admin.close();
});

/** The sessions of this database whose last statement was a LISTEN or UNLISTEN. */
async function listenSessions(): Promise<number> {
  const [row] = await admin.query<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and (query like 'listen %' or query like 'unlisten %')",
  );
  return row?.n ?? 0;
}

function notify(channel: string, payload: string): Promise<unknown> {
  return admin.query('select pg_notify($1, $2)', [channel, payload]);
}

describe('LISTEN through one shared connection', () => {
  it('delivers each channel to its own subscribers over one connection, and unlistens stopped ones', async () => {
    const database = openPostgres({ url });
    const got: string[] = [];
    try {
      const stopA1 = await database.listen('chan_a', (p) => got.push(`a1:${p}`));
      const stopA2 = await database.listen('chan_a', (p) => got.push(`a2:${p}`));
      const stopB = await database.listen('chan_b', (p) => got.push(`b:${p}`));
      expect(await listenSessions()).toBe(1);
      await notify('chan_a', 'one');
      await notify('chan_b', 'two');
      await notify('chan_c', 'nobody');
      expect(await waitUntil(() => got.length >= 3, 10_000)).toBe(true);
      expect(got.sort()).toEqual(['a1:one', 'a2:one', 'b:two']);

      got.length = 0;
      await stopA1();
      await stopB();
      await notify('chan_b', 'unheard');
      await notify('chan_a', 'three');
      expect(await waitUntil(() => got.length >= 1, 10_000)).toBe(true);
      // the NOTIFY on chan_b went before the one on chan_a: had it been delivered, it came first
      expect(got).toEqual(['a2:three']);
      await stopA2();
      expect(await waitUntil(async () => (await listenSessions()) === 0, 10_000)).toBe(true);
    } finally {
      await database.close();
    }
  });

  it('re-establishes a cut connection, listens again and tells every subscriber to re-read', async () => {
    const database = openPostgres({ url });
    const got: string[] = [];
    const reconnects: string[] = [];
    try {
      await database.listen('chan_x', (p) => got.push(`x:${p}`), { onReconnect: () => reconnects.push('x') });
      await database.listen('chan_y', (p) => got.push(`y:${p}`), { onReconnect: () => reconnects.push('y') });
      await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query like 'listen %'",
      );
      expect(await waitUntil(() => reconnects.length >= 2, 15_000)).toBe(true);
      expect(reconnects.sort()).toEqual(['x', 'y']);
      await notify('chan_x', 'after');
      await notify('chan_y', 'after');
      expect(await waitUntil(() => got.length >= 2, 10_000)).toBe(true);
      expect(got.sort()).toEqual(['x:after', 'y:after']);
      expect(await listenSessions()).toBe(1);
    } finally {
      await database.close();
    }
    expect(await waitUntil(async () => (await listenSessions()) === 0, 10_000)).toBe(true);
  });
});
