// Assets in the database: their import state (for the API, the Asset CRs and jobs waiting in
// `setup`), the rows group cleanup decides on, and registration of assets a job produced. Every
// change of an asset's state is announced on NOTIFY `kubeqa_assets` (payload `<type>/<name>`), so
// waiters wake on it instead of polling.
import { createHash } from 'node:crypto';
import type { AssetState } from '../domain/assets/types.js';
import type { QueryFn } from './connect.js';

export const ASSETS_CHANNEL = 'kubeqa_assets';

export interface AssetStateUpdate {
  type: string;
  name: string;
  state: AssetState;
  reason?: string | null;
  source?: string | null;
  bytesImported?: number | null;
  size?: number | null;
  sha256?: string | null;
  fixed?: boolean;
}

export interface AssetRecord {
  id: number;
  type: string;
  name: string;
  size: number | null;
  checksum: string | null;
  fixed: boolean;
  state: AssetState | null;
  reason: string | null;
  source: string | null;
  bytes_imported: number | null;
  last_use_job_id: number | null;
}

/** Create or update an asset's import state; returns its id. Announces the change. */
export async function recordAssetState(q: QueryFn, update: AssetStateUpdate): Promise<number> {
  const [row] = await q<{ id: number }>(
    `insert into assets (type, name, state, reason, source, bytes_imported, size, checksum, fixed)
     values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, false))
     on conflict (type, name) do update set
       state = excluded.state,
       reason = excluded.reason,
       source = coalesce(excluded.source, assets.source),
       bytes_imported = excluded.bytes_imported,
       size = coalesce(excluded.size, assets.size),
       checksum = coalesce(excluded.checksum, assets.checksum),
       fixed = coalesce($9, assets.fixed),
       t_updated = now()
     returning id`,
    [
      update.type,
      update.name,
      update.state,
      update.reason ?? null,
      update.source ?? null,
      update.bytesImported ?? null,
      update.size ?? null,
      update.sha256 ?? null,
      update.fixed ?? null,
    ],
  );
  await q('select pg_notify($1, $2)', [ASSETS_CHANNEL, `${update.type}/${update.name}`]);
  return Number(row?.id);
}

/** Progress of a running import (no notification: readers poll the percentage when they show it). */
export async function recordImportProgress(
  q: QueryFn,
  type: string,
  name: string,
  bytes: number,
  size?: number,
): Promise<void> {
  await q(
    `update assets set bytes_imported = $3, size = coalesce($4, size), t_updated = now()
      where type = $1 and name = $2 and state = 'importing'`,
    [type, name, bytes, size ?? null],
  );
}

const COLUMNS =
  'id, type, name, size, checksum, fixed, state, reason, source, bytes_imported, last_use_job_id';

function normalise(row: AssetRecord): AssetRecord {
  return {
    ...row,
    id: Number(row.id),
    size: row.size === null ? null : Number(row.size),
    bytes_imported: row.bytes_imported === null ? null : Number(row.bytes_imported),
    last_use_job_id: row.last_use_job_id === null ? null : Number(row.last_use_job_id),
  };
}

export async function findAsset(q: QueryFn, type: string, name: string): Promise<AssetRecord | undefined> {
  const [row] = await q<AssetRecord>(`select ${COLUMNS} from assets where type = $1 and name = $2`, [
    type,
    name,
  ]);
  return row ? normalise(row) : undefined;
}

/** The records of the given assets (those that exist). */
export async function findAssets(
  q: QueryFn,
  wanted: readonly { type: string; name: string }[],
): Promise<AssetRecord[]> {
  if (wanted.length === 0) return [];
  const rows = await q<AssetRecord>(
    `select ${COLUMNS} from assets a
      where (a.type, a.name) in (select * from unnest($1::text[], $2::text[]))`,
    [wanted.map((w) => w.type), wanted.map((w) => w.name)],
  );
  return rows.map(normalise);
}

/** When a job last used the asset: the creation time of its newest job. */
export async function lastUsed(q: QueryFn, type: string, name: string): Promise<Date | undefined> {
  const [row] = await q<{ t: Date | null }>(
    `select j.t_created as t from assets a join jobs j on j.id = a.last_use_job_id
      where a.type = $1 and a.name = $2`,
    [type, name],
  );
  return row?.t ?? undefined;
}

/** Register an asset a job produced (PUBLISH_HDD_n, STORE_HDD_n) as ready and owned by that job. */
export async function registerProducedAsset(
  q: QueryFn,
  jobId: number,
  asset: { type: string; name: string; size: number; sha256: string },
): Promise<number> {
  const id = await recordAssetState(q, {
    type: asset.type,
    name: asset.name,
    state: 'ready',
    size: asset.size,
    sha256: asset.sha256,
  });
  // The stored checksum is the new content's, whatever an earlier upload of that name had.
  await q('update assets set checksum = $2, size = $3, last_use_job_id = $4 where id = $1', [
    id,
    asset.sha256,
    asset.size,
    jobId,
  ]);
  await q(
    `insert into jobs_assets (job_id, asset_id, created_by) values ($1, $2, true)
     on conflict (job_id, asset_id) do update set created_by = true`,
    [jobId, id],
  );
  return id;
}

/** Whether `token` is the job token of a job that is assigned or running (a test pod's credentials). */
export async function activeJobToken(q: QueryFn, token: string): Promise<boolean> {
  const rows = await q(
    `select 1 from jobs where token_hash = $1 and state in ('assigned', 'setup', 'running', 'uploading')`,
    [createHash('sha256').update(token).digest('hex')],
  );
  return rows.length > 0;
}
