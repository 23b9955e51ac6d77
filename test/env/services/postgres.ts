// A throwaway PostgreSQL 15 cluster (Debian's postgresql-15) on a loopback port.
// PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../ports.js';
import { type ManagedProcess, spawnService, waitUntilReady } from '../processes.js';
import { requireFile } from '../system.js';

export interface PostgresInfo {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The maintenance database; tests create their own with createDatabase(). */
  database: string;
  /** postgres://user:password@host:port/database */
  url: string;
}

const PG_PACKAGES = ['postgresql-15'];

function pgBin(name: string): string {
  return requireFile([`/usr/lib/postgresql/15/bin/${name}`], PG_PACKAGES, `PostgreSQL 15 ${name}`);
}

/** The unprivileged account to run as when we are root (from /etc/passwd), with its uid and gid. */
function serviceUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const accounts = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'));
  for (const name of ['postgres', 'nobody']) {
    const entry = accounts.find((fields) => fields[0] === name);
    if (entry) return { name, uid: Number(entry[2]), gid: Number(entry[3]) };
  }
  throw new Error('running as root, but there is no postgres or nobody account to run PostgreSQL as');
}

export function postgresUrl(info: Omit<PostgresInfo, 'url'>, database = info.database): string {
  return `postgres://${encodeURIComponent(info.user)}:${encodeURIComponent(info.password)}@${info.host}:${info.port}/${database}`;
}

export async function startPostgres(): Promise<{ info: PostgresInfo; proc: ManagedProcess; dir: string }> {
  const initdb = pgBin('initdb');
  const postgres = pgBin('postgres');
  const owner = serviceUser();
  const base = mkdtempSync(join(tmpdir(), 'kubeqa-pg-'));
  const dataDir = join(base, 'data');
  const password = randomBytes(12).toString('hex');
  const pwFile = join(base, 'pwfile');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(base, owner.uid, owner.gid);
    chownSync(pwFile, owner.uid, owner.gid);
  }
  const user = 'kubeqa';
  const init = spawnService(
    'initdb',
    initdb,
    [
      '-D',
      dataDir,
      '-U',
      user,
      `--pwfile=${pwFile}`,
      '-A',
      'scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ],
    { user: owner?.name, cwd: base },
  );
  const result = await init.exited;
  if (result.code !== 0) {
    throw new Error(`initdb failed (exit ${result.code}). Log (${init.logPath}):\n${init.logTail()}`);
  }
  const port = await freePort();
  const proc = spawnService(
    'postgres',
    postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      base,
      '-c',
      'listen_addresses=127.0.0.1',
      // A throwaway cluster: durability off, speed on.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
      '-c',
      'shared_buffers=256MB',
    ],
    { user: owner?.name, cwd: base },
  );
  const info: PostgresInfo = {
    host: '127.0.0.1',
    port,
    user,
    password,
    database: 'postgres',
    url: '',
  };
  info.url = postgresUrl(info);
  await waitUntilReady(proc, 'accepting connections', async () => {
    const client = new pg.Client({ connectionString: info.url });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } finally {
      await client.end().catch(() => {});
    }
  });
  return { info, proc, dir: base };
}

/** A fresh, empty database on the shared cluster, for one test file. Returns its URL. */
export async function createDatabase(info: PostgresInfo, prefix = 'test'): Promise<string> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: info.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
  } finally {
    await client.end();
  }
  return postgresUrl(info, name);
}
