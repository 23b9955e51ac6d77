// The Kubernetes executor: offers the Worker pools' slots to the scheduler and turns its
// assignments into test pods (operator/executors/kubernetes-plan.ts decides which; this file does
// the I/O). Every trigger (an assignment, a stopped job, a pod event, a job event, the start)
// runs one resync that compares the database's active jobs with the pods; resyncs never overlap.
// Tokens are issued per job into a Secret the pod owns; they are never logged nor put in the
// pod spec as values.
import type { OpenDatabase } from '../../db/connect.js';
import { changeJobStates } from '../../db/jobs.js';
import { issueJobToken } from '../../db/results.js';
import type { Logger } from '../../runtime/logger.js';
import type { Informer, KubeObject } from '../controller/informer.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import {
  buildSlotPod,
  type PodOperatorConfig,
  type PodPool,
  tokenSecretName,
  type WorkerPoolSpec,
} from '../pods/build-pod.js';
import { type PodView, podOutcome } from '../pods/pod-outcome.js';
import type { Assignment } from '../scheduler/types.js';
import {
  ACTIVE_STATES,
  type ActiveJob,
  ANNOTATION_JOB_IDS,
  type PodSummary,
  type PodToCreate,
  planPods,
  podJobIds,
} from './kubernetes-plan.js';
import { type PoolView, parseSlotId, poolSlots } from './pool-slots.js';
import type { SlotRegistry } from './slot-registry.js';

export interface KubernetesExecutorOptions {
  client: KubeClient;
  database: OpenDatabase;
  pods: Informer<KubeObject>;
  workers: Informer<KubeObject>;
  podConfig: PodOperatorConfig;
  slots: SlotRegistry;
  /** Only pools (and pods) in this namespace; empty: all. */
  namespace?: string;
  /** Grace period of a deleted test pod (default 30 s). */
  graceSeconds?: number;
  /** Wait before creating a pod again after a failed attempt (default 2 s, doubling to 60 s). */
  retryBaseMs?: number;
  /** Interval of slot heartbeats (default 30 s). */
  heartbeatMs?: number;
  events?: EventRecorder;
  log?: Logger;
}

const FINAL = new Set(['done', 'cancelled']);

/** Pods (groups of pods) created at once in one resync: a burst of assignments is not made one by one. */
const CREATE_CONCURRENCY = 16;

/** Runs `work` on every item, at most `limit` at a time. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

export class KubernetesExecutor {
  private running = false;
  private again = false;
  private idleWaiters: Array<() => void> = [];
  private stopped = true;
  private retryAt = new Map<number, number>();
  private failures = new Map<number, number>();
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Pods created but not yet seen by the informer (name → job ids). */
  private created = new Map<string, { jobIds: number[]; at: number }>();
  private slotSync: Promise<void> = Promise.resolve();
  /** Jobs of the pods, for deciding whether a job event concerns us. */
  private readonly knownJobs = new Set<number>();
  /**
   * Ended jobs already acted on through one channel (the scheduler's onStopped, or the job's
   * state event): the other channel's word on the same end is not a second resync.
   */
  private readonly endHeard = new Set<number>();

  constructor(private readonly options: KubernetesExecutorOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.syncSlots();
    this.heartbeat = setInterval(() => void this.syncSlots(), this.options.heartbeatMs ?? 30_000);
    this.heartbeat.unref();
    this.resync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.idle();
    await this.slotSync;
  }

  onAssigned(_assignment: Assignment): void {
    this.resync();
  }

  /** The scheduler stopped a job (cancelled, or ended with its cluster): its pod goes. */
  onStopped(stop: { jobId: number }): void {
    if (this.endHeard.delete(stop.jobId)) return;
    this.endHeard.add(stop.jobId);
    this.resync();
  }

  /** A job changed state: resync when it is one of ours and has ended (once per end). */
  onJobState(jobId: number, state: string): void {
    if (!this.knownJobs.has(jobId) || !FINAL.has(state)) return;
    if (this.endHeard.delete(jobId)) return;
    this.endHeard.add(jobId);
    this.resync();
  }

  onPodEvent(): void {
    this.resync();
  }

  onPoolsChanged(): void {
    void this.syncSlots();
  }

  /** Resolves when no resync runs or is due. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  resync(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (error) {
          this.options.log?.error({ err: (error as Error).message }, 'executor resync failed; retrying');
          this.armRetry(Date.now() + 1_000);
        }
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private armRetry(at: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.resync(), Math.max(0, at - Date.now()));
    this.retryTimer.unref();
  }

  private inScope(namespace: string | undefined): boolean {
    return !this.options.namespace || namespace === this.options.namespace;
  }

  private pools(): PoolView[] {
    return this.options.workers
      .list()
      .filter((w) => this.inScope(w.metadata.namespace)) as unknown as PoolView[];
  }

  /** Offers every pool's slots to the scheduler (and keeps them alive). */
  syncSlots(): Promise<void> {
    this.slotSync = this.slotSync
      .then(async () => {
        if (this.stopped) return;
        const busy = await this.options.database.query<{ slot_id: string }>(
          `select distinct slot_id from jobs where state in ('assigned', 'setup', 'running', 'uploading')
             and slot_id is not null`,
        );
        const busyIds = new Set(busy.map((r) => r.slot_id).filter((id) => parseSlotId(id)));
        await this.options.slots.sync(poolSlots(this.pools(), busyIds, Date.now()), (id) => {
          const parsed = parseSlotId(id);
          return parsed !== undefined && this.inScope(parsed.namespace);
        });
      })
      .catch((error: Error) => this.options.log?.warn({ err: error.message }, 'slot sync failed'));
    return this.slotSync;
  }

  private podSummaries(): PodSummary[] {
    const out: PodSummary[] = [];
    const seen = new Set<string>();
    for (const pod of this.options.pods.list()) {
      if (!this.inScope(pod.metadata.namespace)) continue;
      const jobIds = podJobIds(pod);
      if (jobIds.length === 0) continue;
      seen.add(pod.metadata.name);
      out.push({
        name: `${pod.metadata.namespace}/${pod.metadata.name}`,
        jobIds,
        outcome: podOutcome(pod as unknown as PodView),
        deleting: Boolean(pod.metadata.deletionTimestamp),
      });
    }
    const now = Date.now();
    for (const [key, entry] of this.created) {
      const name = key.split('/')[1] as string;
      if (seen.has(name) || now - entry.at > 60_000) this.created.delete(key);
      else
        out.push({
          name: key,
          jobIds: entry.jobIds,
          outcome: { kind: 'pending', reason: 'created' },
          deleting: false,
        });
    }
    return out;
  }

  private async pass(): Promise<void> {
    const q = this.options.database.query;
    const rows = await q<{ id: number; state: string; slot_id: string; sequence_index: number | null }>(
      `select id, state, slot_id, sequence_index from jobs
        where state in ('assigned', 'setup', 'running', 'uploading') and slot_id is not null`,
    );
    const active: ActiveJob[] = rows
      .filter((r) => {
        const parsed = parseSlotId(r.slot_id);
        return parsed !== undefined && this.inScope(parsed.namespace);
      })
      .map((r) => ({
        id: Number(r.id),
        state: r.state,
        slotId: r.slot_id,
        sequenceIndex: r.sequence_index,
      }));
    const pods = this.podSummaries();
    this.knownJobs.clear();
    for (const pod of pods) for (const id of pod.jobIds) this.knownJobs.add(id);
    for (const id of this.endHeard) if (!this.knownJobs.has(id)) this.endHeard.delete(id);
    const assigned = active.filter((j) => j.state === 'assigned').map((j) => j.id);
    const parallel =
      assigned.length < 2
        ? []
        : (
            await q<{ a: number; b: number }>(
              `select child_job_id as a, parent_job_id as b from job_dependencies
                where dependency = 'parallel' and child_job_id = any($1::bigint[]) and parent_job_id = any($1::bigint[])`,
              [assigned],
            )
          ).map((r) => [Number(r.a), Number(r.b)] as const);
    const plan = planPods({
      active,
      pods,
      parallel,
      retryAt: this.retryAt,
      now: Date.now(),
    });
    if (plan.died.length > 0) await this.endJobs(plan.died);
    for (const name of plan.remove) await this.deletePod(name);
    // Groups are independent (each all or none, its own failure path): made concurrently.
    await eachLimited(plan.create, CREATE_CONCURRENCY, (group) => this.createGroup(group));
    if (plan.retryAt !== null) this.armRetry(plan.retryAt);
    if (plan.died.length > 0 || plan.create.length > 0 || plan.remove.length > 0) void this.syncSlots();
  }

  /** Ends jobs whose runner died (only those still active), through changeJobStates. */
  private async endJobs(died: Array<{ jobId: number; reason: string }>): Promise<void> {
    await this.options.database.transaction(async (q) => {
      const rows = await q<{ id: number; state: string }>(
        'select id, state from jobs where id = any($1::bigint[]) for update',
        [died.map((d) => d.jobId)],
      );
      const still = new Set(rows.filter((r) => ACTIVE_STATES.has(r.state)).map((r) => Number(r.id)));
      const changes = died
        .filter((d) => still.has(d.jobId))
        .map((d) => ({ id: d.jobId, state: 'done', result: 'incomplete', reason: d.reason }));
      await changeJobStates(q, changes, 'operator');
      for (const change of changes)
        this.options.log?.info({ jobId: change.id, reason: change.reason }, 'job ended: its runner died');
    });
  }

  private async deletePod(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const grace = this.options.graceSeconds ?? 30;
    for (const path of [
      `/api/v1/namespaces/${namespace}/pods/${name}`,
      `/api/v1/namespaces/${namespace}/secrets/${name}-token`,
    ]) {
      try {
        await this.options.client.delete(path, {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          gracePeriodSeconds: grace,
        });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.statusCode === 404)) throw error;
      }
    }
    this.created.delete(key);
    this.options.log?.info({ pod: key }, 'test pod deleted');
  }

  /** Creates the pods of one group, all or none; on failure the jobs go back to the scheduler. */
  private async createGroup(group: PodToCreate[]): Promise<void> {
    const made: string[] = [];
    try {
      for (const pod of group) {
        await this.createPod(pod);
        made.push(pod.slotId);
      }
      for (const pod of group)
        for (const id of pod.jobIds) {
          this.retryAt.delete(id);
          this.failures.delete(id);
        }
    } catch (error) {
      const message = (error as Error).message;
      this.options.log?.warn(
        { pods: group.map((p) => p.name), err: message },
        'cannot create the pods of an assignment; handing its jobs back',
      );
      for (const pod of group) {
        const [namespace] = pod.slotId.split('/') as [string];
        if (made.includes(pod.slotId))
          await this.deletePod(`${namespace}/${pod.name}`).catch(() => undefined);
      }
      const jobIds = group.flatMap((p) => p.jobIds);
      await this.handBack(jobIds, `pod creation failed: ${message}`.slice(0, 1000));
      const base = this.options.retryBaseMs ?? 2_000;
      for (const id of jobIds) {
        const n = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, n);
        this.retryAt.set(id, Date.now() + Math.min(base * 2 ** (n - 1), 60_000));
      }
    }
  }

  private async handBack(jobIds: number[], reason: string): Promise<void> {
    await this.options.database.transaction(async (q) => {
      const rows = await q<{ id: number }>(
        `select id from jobs where id = any($1::bigint[]) and state = 'assigned' for update`,
        [jobIds],
      );
      const ids = rows.map((r) => Number(r.id));
      // back to `scheduled` also frees the slot (changeJobStates clears slot and position)
      await changeJobStates(
        q,
        ids.map((id) => ({ id, state: 'scheduled', reason })),
        'operator',
      );
    });
  }

  private async createPod(target: PodToCreate): Promise<void> {
    const { client, database, podConfig } = this.options;
    const slot = parseSlotId(target.slotId);
    if (!slot) throw new Error(`slot ${target.slotId} is not a Worker pool slot`);
    const pool = this.options.workers.get(`${slot.namespace}/${slot.pool}`);
    if (!pool) throw new Error(`Worker ${slot.namespace}/${slot.pool} no longer exists`);
    const key = `${slot.namespace}/${target.name}`;
    const podsPath = `/api/v1/namespaces/${slot.namespace}/pods`;
    // Adopt the pod when it already exists (made before a restart or by the previous leader).
    // The look-up and the reads of the jobs go out together.
    const [existing, jobRows, owners] = await Promise.all([
      client.get<KubeObject>(`${podsPath}/${target.name}`).catch((error: unknown) => {
        if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
        throw error;
      }),
      database.query<{ id: number; settings: Record<string, string | string[]> }>(
        'select id, settings from jobs where id = any($1::bigint[])',
        [target.jobIds],
      ),
      database.query<{ job_id: number; name: string; uid: string; namespace: string }>(
        'select job_id, name, uid, namespace from job_resources where job_id = any($1::bigint[])',
        [target.jobIds],
      ),
    ]);
    if (existing) {
      if (podJobIds(existing).join(',') !== target.jobIds.join(','))
        throw new Error(`pod ${key} exists and runs other jobs (${podJobIds(existing).join(',') || 'none'})`);
      this.created.set(key, { jobIds: target.jobIds, at: Date.now() });
      return;
    }
    const settingsOf = new Map(jobRows.map((r) => [Number(r.id), r.settings]));
    const ownerOf = new Map(owners.map((r) => [Number(r.job_id), r]));
    const jobs = target.jobIds.map((id) => {
      const owner = ownerOf.get(id);
      return {
        id,
        namespace: slot.namespace,
        settings: Object.fromEntries(
          Object.entries(settingsOf.get(id) ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]),
        ),
        ...(owner && owner.namespace === slot.namespace
          ? { owner: { name: owner.name, uid: owner.uid } }
          : {}),
      };
    });
    const tokens = new Map<number, string>(
      await Promise.all(
        target.jobIds.map(async (id) => [id, await issueJobToken(database.query, id)] as const),
      ),
    );
    const poolObject: PodPool = {
      name: slot.pool,
      spec: (pool as unknown as { spec: WorkerPoolSpec }).spec,
    };
    const { pod, secret } = buildSlotPod(jobs, poolObject, podConfig, tokens, target.slotId);
    const secretsPath = `/api/v1/namespaces/${slot.namespace}/secrets`;
    const secretName = tokenSecretName(target.jobIds[0] as number);
    try {
      await client.create(secretsPath, secret);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.statusCode === 409)) throw error;
      // left from an attempt that failed before its pod existed: the tokens are new now
      await client.delete(`${secretsPath}/${secretName}`);
      await client.create(secretsPath, secret);
    }
    const created = await client.create<KubeObject>(podsPath, pod);
    this.created.set(key, { jobIds: target.jobIds, at: Date.now() });
    this.options.log?.info({ pod: key, jobs: target.jobIds, slot: target.slotId }, 'test pod created');
    // The Secret goes with its pod; the Event goes out meanwhile.
    await Promise.all([
      client.patch(`${secretsPath}/${secretName}`, {
        metadata: {
          ownerReferences: [
            { apiVersion: 'v1', kind: 'Pod', name: target.name, uid: created.metadata.uid, controller: true },
          ],
        },
      }),
      this.options.events?.record(
        { apiVersion: 'v1', kind: 'Pod', metadata: created.metadata },
        'Normal',
        'Created',
        `test pod for job${target.jobIds.length > 1 ? 's' : ''} ${target.jobIds.join(', ')} on slot ${target.slotId}`,
      ),
    ]);
  }
}

export { ANNOTATION_JOB_IDS };
