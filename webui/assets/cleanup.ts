// Group cleanup of the asset store, run by the server: each job group keeps its most recently used
// assets up to its size limit (job_groups.size_limit_gb), assets of pending (scheduled … uploading)
// jobs and fixed assets are never deleted, assets of no group go after a grace period, and files
// in the store that no asset row names (left by a crash, a deleted row) are deleted once they are
// older than a grace period (so a running import is never hit). domain/assets/cleanup.ts decides;
// this gathers the rows and does the deletions.
//
// AssetCleanup runs the group cleanup when something may have changed the picture — an import
// settled, a job uploaded an asset, a job finished — coalescing bursts into one run. The orphan
// sweep lists the whole store, and orphans only come from crashes and lost rows: it runs at start
// and on a timer (default hourly), never per finished job.

import { ASSETS_CHANNEL } from '../../db/assets.js';
import type { OpenDatabase } from '../../db/connect.js';
import { subscribeJobEvents } from '../../db/job-events.js';
import { orphanedObjects, selectAssetsToDelete } from '../../domain/assets/cleanup.js';
import type { Logger } from '../../runtime/logger.js';
import type { AssetStore } from '../../runtime/storage/store.js';

const GiB = 1024 ** 3;

export interface CleanupOptions {
  database: OpenDatabase;
  store: AssetStore;
  log?: Logger;
  /** Limit of a group without size_limit_gb, in bytes (default: none, such a group keeps all). */
  defaultGroupLimitBytes?: number;
  /** How long an asset of no group is kept after its last use (default 14 days, openQA's). */
  untrackedMaxAgeMs?: number;
  /** Store files no row names are deleted when older than this (default 1 day). */
  orphanGraceMs?: number;
  now?: () => number;
}

export interface GroupCleanupReport {
  deleted: { key: string; reason: string }[];
  keptBytesByGroup: Record<number, number>;
}

export interface CleanupReport extends GroupCleanupReport {
  orphans: string[];
}

interface Row {
  id: number;
  type: string;
  name: string;
  size: string | number | null;
  fixed: boolean;
  state: string | null;
  groups: number[] | null;
  pending: boolean;
  last_use: Date | null;
  t_created: Date;
}

/** The group cleanup and the orphan sweep, one after the other. */
export async function cleanupAssets(options: CleanupOptions): Promise<CleanupReport> {
  const groups = await cleanupGroups(options);
  return { ...groups, orphans: await sweepOrphans(options) };
}

/** Deletes the assets each group's size limit (and the untracked grace period) leaves no room for. */
export async function cleanupGroups(options: CleanupOptions): Promise<GroupCleanupReport> {
  const { database, store, log } = options;
  const now = options.now?.() ?? Date.now();
  const rows = await database.query<Row>(
    `select a.id, a.type, a.name, a.size, a.fixed, a.state, a.t_created,
            (select j.t_created from jobs j where j.id = a.last_use_job_id) as last_use,
            (select array_agg(distinct j.group_id) from jobs_assets ja join jobs j on j.id = ja.job_id
              where ja.asset_id = a.id and j.group_id is not null) as groups,
            exists (select 1 from jobs_assets ja join jobs j on j.id = ja.job_id
                     where ja.asset_id = a.id
                       and j.state in ('scheduled', 'assigned', 'setup', 'running', 'uploading')) as pending
       from assets a`,
  );
  const limits = await database.query<{ id: number; size_limit_gb: number | null }>(
    'select id, size_limit_gb from job_groups',
  );
  const groupLimits = new Map<number, number>();
  for (const g of limits) {
    const limit = g.size_limit_gb !== null ? g.size_limit_gb * GiB : options.defaultGroupLimitBytes;
    if (limit !== undefined) groupLimits.set(Number(g.id), limit);
  }
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  const decision = selectAssetsToDelete({
    assets: rows.map((r) => ({
      id: String(r.id),
      size: Number(r.size ?? 0),
      groups: (r.groups ?? []).map(Number),
      fixed: r.fixed,
      // An import in progress counts as in use: never pull the file from under it.
      pending: r.pending || r.state === 'importing' || r.state === 'pending',
      ...(r.last_use ? { lastUse: new Date(r.last_use).getTime() } : {}),
      createdAt: new Date(r.t_created).getTime(),
    })),
    groupLimits,
    untrackedMaxAgeMs: options.untrackedMaxAgeMs ?? 14 * 24 * 3600_000,
    now,
  });
  const deleted: CleanupReport['deleted'] = [];
  for (const victim of decision.delete) {
    const row = byId.get(victim.id);
    if (!row) continue;
    const key = `${row.type}/${row.name}`;
    // Mark first: a reader sees `deleting`, not a ready asset whose file is gone.
    const marked = await database.query(
      `update assets set state = 'deleting', t_updated = now() where id = $1
         and not exists (select 1 from jobs_assets ja join jobs j on j.id = ja.job_id where ja.asset_id = $1
                         and j.state in ('scheduled', 'assigned', 'setup', 'running', 'uploading'))
       returning id`,
      [row.id],
    );
    if (marked.length === 0) continue; // a job started using it since the rows were read
    await database.query('select pg_notify($1, $2)', [ASSETS_CHANNEL, key]);
    try {
      await store.delete(key);
    } catch (error) {
      log?.warn(
        { asset: key, err: (error as Error).message },
        'could not delete the asset file; kept its row',
      );
      continue;
    }
    await database.query('delete from assets where id = $1', [row.id]);
    deleted.push({ key, reason: victim.reason });
    log?.info({ asset: key, reason: victim.reason }, 'asset deleted by group cleanup');
  }
  return { deleted, keptBytesByGroup: Object.fromEntries(decision.keptBytesByGroup) };
}

/** Deletes files in the store that no asset row names, once older than the grace period. */
export async function sweepOrphans(options: CleanupOptions): Promise<string[]> {
  const { database, store, log } = options;
  const now = options.now?.() ?? Date.now();
  const remaining = await database.query<{ type: string; name: string }>('select type, name from assets');
  const registered = new Set(remaining.map((r) => `${r.type}/${r.name}`));
  const objects: { key: string; lastModified: number }[] = [];
  for await (const object of store.list()) {
    objects.push({ key: object.key, lastModified: object.lastModified.getTime() });
  }
  const orphans = orphanedObjects(objects, registered, now, options.orphanGraceMs ?? 24 * 3600_000);
  for (const key of orphans) {
    await store.delete(key);
    log?.info({ key }, 'orphaned asset file deleted');
  }
  return orphans;
}

export interface AssetCleanupOptions extends CleanupOptions {
  /** How often the orphan sweep runs after the one at start, ms (default 1 hour; 0: only at start). */
  orphanSweepIntervalMs?: number;
}

/**
 * Runs the group cleanup when asked (trigger(), and on every finished or deleted job once started)
 * and the orphan sweep at start and every `orphanSweepIntervalMs` (sweep()), one run at a time:
 * requests during a run lead to one more run of what was asked after it.
 */
export class AssetCleanup {
  private running: Promise<void> | undefined;
  private wanted = { groups: false, orphans: false };
  private unsubscribe: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The last group cleanup's report (for tests and the log). */
  last: GroupCleanupReport | undefined;
  /** Group cleanups and orphan sweeps done so far. */
  groupRuns = 0;
  sweeps = 0;

  constructor(private readonly options: AssetCleanupOptions) {}

  async start(): Promise<void> {
    this.unsubscribe = await subscribeJobEvents(this.options.database, (event) => {
      if (event.type === 'job.state' && (event.state === 'done' || event.state === 'cancelled'))
        this.trigger();
      if (event.type === 'job.deleted') this.trigger();
    });
    this.wanted.groups = true;
    this.sweep();
    const every = this.options.orphanSweepIntervalMs ?? 3600_000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweep(), every);
      this.timer.unref();
    }
  }

  /** A group cleanup soon. */
  trigger(): void {
    this.wanted.groups = true;
    this.kick();
  }

  /** An orphan sweep soon. */
  sweep(): void {
    this.wanted.orphans = true;
    this.kick();
  }

  private kick(): void {
    if (this.running) return;
    this.running = (async () => {
      while (this.wanted.groups || this.wanted.orphans) {
        const { groups, orphans } = this.wanted;
        this.wanted = { groups: false, orphans: false };
        if (groups) {
          try {
            this.last = await cleanupGroups(this.options);
            this.groupRuns += 1;
          } catch (error) {
            this.options.log?.warn({ err: (error as Error).message }, 'asset group cleanup failed');
          }
        }
        if (orphans) {
          try {
            await sweepOrphans(this.options);
            this.sweeps += 1;
          } catch (error) {
            this.options.log?.warn({ err: (error as Error).message }, 'orphaned asset sweep failed');
          }
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no run is going on. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.unsubscribe?.();
    await this.idle();
  }
}
