// The Kubernetes executor: offers the Worker pools' slots to the scheduler and turns its
// assignments into test pods (operator/executors/kubernetes-plan.ts decides which; this file does
// the I/O). Every trigger (an assignment, a stopped job, a pod event, a job event, the start)
// runs one resync that compares the database's active jobs with the pods; resyncs never overlap.
// Tokens are issued per job into one Secret per pod; they are never logged nor put in the pod
// spec as values. The create path costs two apiserver writes per pod (the Secret, owned by the
// Job CR from its creation, then the pod); no read, no patch, and the pod's Event is queued
// (operator/kube/events.ts). See docs/operator.md, "The create path".
import type { OpenDatabase } from '../../db/connect.js';
import { changeJobStates } from '../../db/jobs.js';
import { newJobToken, revokeJobTokens, storeJobTokens } from '../../db/results.js';
import { FINAL_STATES } from '../../domain/jobs/states.js';
import type { Logger } from '../../runtime/logger.js';
import type { Informer, KubeObject } from '../controller/informer.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import {
  buildSlotPod,
  LABEL_COMPONENT,
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

const FINAL = new Set<string>(FINAL_STATES);

/**
 * Groups of pods being created at once. Creations run beside the resyncs (a resync does not wait
 * for the pods it started), so the pods of a burst of assignments go out as they are assigned.
 */
const CREATE_CONCURRENCY = 16;

type CreateOutcome = 'created' | 'failed';

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
  /** Pods being created now (key → job ids): resyncs neither create nor delete them meanwhile. */
  private readonly creating = new Map<string, number[]>();
  /** Groups waiting for a creation slot, and the creations running. */
  private readonly createQueue: PodToCreate[][] = [];
  private createsRunning = 0;
  private readonly createsDone = new Set<Promise<CreateOutcome>>();
  private sweep: Promise<void> | undefined;
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
    this.sweepSecrets();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const group of this.createQueue.splice(0))
      for (const pod of group) this.creating.delete(podKey(pod));
    await this.idle();
    while (this.createsDone.size > 0) await Promise.allSettled([...this.createsDone]);
    await this.sweep;
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
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      // a pod being created (or taken back after a refused group) is the creation's business
      if (this.creating.has(key)) continue;
      out.push({
        name: key,
        jobIds,
        outcome: podOutcome(pod as unknown as PodView),
        deleting: Boolean(pod.metadata.deletionTimestamp),
      });
    }
    for (const [key, jobIds] of this.creating)
      out.push({ name: key, jobIds, outcome: { kind: 'pending', reason: 'creating' }, deleting: true });
    const now = Date.now();
    for (const [key, entry] of this.created) {
      if (this.creating.has(key)) continue;
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
    const jobsOf = new Map(pods.map((pod) => [pod.name, pod.jobIds]));
    for (const name of plan.remove) await this.deletePod(name, jobsOf.get(name) ?? []);
    // Groups are independent (each all or none, its own failure path): made concurrently, and
    // without holding this resync.
    for (const group of plan.create) this.enqueueCreate(group);
    if (plan.retryAt !== null) this.armRetry(plan.retryAt);
    if (plan.died.length > 0 || plan.create.length > 0 || plan.remove.length > 0) void this.syncSlots();
    if (plan.died.length > 0) this.sweepSecrets();
  }

  private enqueueCreate(group: PodToCreate[]): void {
    for (const pod of group) this.creating.set(podKey(pod), pod.jobIds);
    this.createQueue.push(group);
    this.startCreates();
  }

  private startCreates(): void {
    while (this.createsRunning < CREATE_CONCURRENCY && this.createQueue.length > 0) {
      const group = this.createQueue.shift() as PodToCreate[];
      this.createsRunning++;
      const done: Promise<CreateOutcome> = this.createGroup(group).finally(() => {
        this.createsRunning--;
        this.createsDone.delete(done);
        for (const pod of group) this.creating.delete(podKey(pod));
        this.startCreates();
      });
      this.createsDone.add(done);
      // a refused group was handed back: the next resync arms its retry
      void done.then(
        (outcome) => {
          if (outcome === 'failed') this.resync();
        },
        (error: Error) => {
          this.options.log?.error({ err: error.message }, 'pod creation failed unexpectedly; resyncing');
          this.resync();
        },
      );
    }
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

  /** Deletes a pod and its token Secret; the tokens of its jobs that have ended are revoked. */
  private async deletePod(key: string, jobIds: readonly number[]): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    await revokeJobTokens(this.options.database.query, jobIds);
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
  private async createGroup(group: PodToCreate[]): Promise<CreateOutcome> {
    if (this.stopped) return 'failed';
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
      return 'created';
    } catch (error) {
      const message = (error as Error).message;
      this.options.log?.warn(
        { pods: group.map((p) => p.name), err: message },
        'cannot create the pods of an assignment; handing its jobs back',
      );
      for (const pod of group) {
        if (made.includes(pod.slotId)) await this.deletePod(podKey(pod), pod.jobIds).catch(() => undefined);
      }
      const jobIds = group.flatMap((p) => p.jobIds);
      await this.handBack(jobIds, `pod creation failed: ${message}`.slice(0, 1000)).catch((err: Error) =>
        this.options.log?.warn({ err: err.message }, 'cannot hand jobs back; the next resync retries'),
      );
      const base = this.options.retryBaseMs ?? 2_000;
      for (const id of jobIds) {
        const n = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, n);
        this.retryAt.set(id, Date.now() + Math.min(base * 2 ** (n - 1), 60_000));
      }
      return 'failed';
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

  /** An existing pod of the name: taken over when it runs these jobs, refused otherwise. */
  private adopt(key: string, existing: KubeObject, target: PodToCreate): void {
    if (podJobIds(existing).join(',') !== target.jobIds.join(','))
      throw new Error(`pod ${key} exists and runs other jobs (${podJobIds(existing).join(',') || 'none'})`);
    this.created.set(key, { jobIds: target.jobIds, at: Date.now() });
    this.options.log?.info({ pod: key, jobs: target.jobIds }, 'test pod adopted');
  }

  private async readPod(path: string): Promise<KubeObject | undefined> {
    try {
      return await this.options.client.get<KubeObject>(path);
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * One pod and its token Secret, in two apiserver writes when nothing is in the way:
   * 1. The pod informer's cache is asked first (no read of the apiserver): a pod of that name
   *    that it knows is adopted or refused.
   * 2. The Secret is created with fresh tokens, owned by the Job CR (when the job has one in the
   *    pod's namespace). A Secret of that name already existing means an earlier attempt, or a
   *    pod the cache does not show yet (made before a restart or by the previous leader): only
   *    then is the pod read, and adopted when it runs the same jobs. Its tokens are never
   *    replaced, because the new tokens are stored only after the Secret was written.
   * 3. The tokens' hashes are stored (they become valid), then the pod is created; a 409 on the
   *    pod is an existing pod, adopted or refused as above.
   * 4. Only a Secret without a Job CR owner gets the pod as its owner afterwards (a patch).
   */
  private async createPod(target: PodToCreate): Promise<void> {
    const { client, database, podConfig } = this.options;
    const slot = parseSlotId(target.slotId);
    if (!slot) throw new Error(`slot ${target.slotId} is not a Worker pool slot`);
    const pool = this.options.workers.get(`${slot.namespace}/${slot.pool}`);
    if (!pool) throw new Error(`Worker ${slot.namespace}/${slot.pool} no longer exists`);
    const key = podKey(target);
    const podsPath = `/api/v1/namespaces/${slot.namespace}/pods`;
    const cached = this.options.pods.get(key);
    if (cached) return this.adopt(key, cached, target);
    const [jobRows, owners] = await Promise.all([
      database.query<{ id: number; settings: Record<string, string | string[]> }>(
        'select id, settings from jobs where id = any($1::bigint[])',
        [target.jobIds],
      ),
      database.query<{ job_id: number; name: string; uid: string; namespace: string }>(
        'select job_id, name, uid, namespace from job_resources where job_id = any($1::bigint[])',
        [target.jobIds],
      ),
    ]);
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
    const tokens = new Map<number, string>(target.jobIds.map((id) => [id, newJobToken()] as const));
    const poolObject: PodPool = {
      name: slot.pool,
      spec: (pool as unknown as { spec: WorkerPoolSpec }).spec,
    };
    const { pod, secret } = buildSlotPod(jobs, poolObject, podConfig, tokens, target.slotId);
    const ownedByJob = Boolean((secret.metadata as { ownerReferences?: unknown[] }).ownerReferences?.length);
    const secretsPath = `/api/v1/namespaces/${slot.namespace}/secrets`;
    const secretName = tokenSecretName(target.jobIds[0] as number);
    try {
      await client.create(secretsPath, secret);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.statusCode === 409)) throw error;
      const existing = await this.readPod(`${podsPath}/${target.name}`);
      if (existing) return this.adopt(key, existing, target);
      // left from an attempt that failed before its pod existed: the tokens are new now
      await client.delete(`${secretsPath}/${secretName}`).catch((e: unknown) => {
        if (!(e instanceof KubeApiError && e.statusCode === 404)) throw e;
      });
      await client.create(secretsPath, secret);
    }
    await storeJobTokens(database.query, tokens);
    let created: KubeObject;
    try {
      created = await client.create<KubeObject>(podsPath, pod);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.statusCode === 409)) throw error;
      const existing = await this.readPod(`${podsPath}/${target.name}`);
      if (!existing) throw error;
      return this.adopt(key, existing, target);
    }
    this.created.set(key, { jobIds: target.jobIds, at: Date.now() });
    this.options.log?.info({ pod: key, jobs: target.jobIds, slot: target.slotId }, 'test pod created');
    // Jobs without a Job CR in the pod's namespace: the Secret goes with its pod instead.
    if (!ownedByJob)
      await client.patch(`${secretsPath}/${secretName}`, {
        metadata: {
          ownerReferences: [
            { apiVersion: 'v1', kind: 'Pod', name: target.name, uid: created.metadata.uid, controller: true },
          ],
        },
      });
    // queued: never waits on the apiserver
    void this.options.events?.record(
      { apiVersion: 'v1', kind: 'Pod', metadata: created.metadata },
      'Normal',
      'Created',
      `test pod for job${target.jobIds.length > 1 ? 's' : ''} ${target.jobIds.join(', ')} on slot ${target.slotId}`,
    );
  }

  /**
   * Deletes token Secrets left without a pod whose jobs have all ended (their pod went while no
   * operator ran, or was deleted by someone else), and revokes those jobs' tokens. Runs at start
   * and after jobs were found dead; never two at once.
   */
  sweepSecrets(): void {
    if (this.sweep || this.stopped) return;
    this.sweep = this.sweepOnce()
      .catch((error: Error) => this.options.log?.warn({ err: error.message }, 'token Secret sweep failed'))
      .finally(() => {
        this.sweep = undefined;
      });
  }

  private async sweepOnce(): Promise<void> {
    const { client, database } = this.options;
    const selector = encodeURIComponent(`${LABEL_COMPONENT}=test-runner`);
    const base = this.options.namespace
      ? `/api/v1/namespaces/${this.options.namespace}/secrets`
      : '/api/v1/secrets';
    const list = await client.get<{
      items: Array<{
        metadata: {
          name: string;
          namespace: string;
          annotations?: Record<string, string>;
          labels?: Record<string, string>;
        };
      }>;
    }>(`${base}?labelSelector=${selector}`);
    const candidates = list.items.filter((secret) => {
      const { name, namespace } = secret.metadata;
      if (!name.endsWith('-token') || !this.inScope(namespace)) return false;
      const key = `${namespace}/${name.slice(0, -'-token'.length)}`;
      return !this.options.pods.get(key) && !this.creating.has(key) && !this.created.has(key);
    });
    if (candidates.length === 0) return;
    const jobsOf = new Map(candidates.map((s) => [s, podJobIds(s)]));
    const ids = [...new Set([...jobsOf.values()].flat())];
    const active = new Set(
      (
        await database.query<{ id: number }>(
          'select id from jobs where id = any($1::bigint[]) and state <> all($2::text[])',
          [ids, FINAL_STATES],
        )
      ).map((r) => Number(r.id)),
    );
    for (const [secret, jobIds] of jobsOf) {
      if (jobIds.length === 0 || jobIds.some((id) => active.has(id))) continue;
      await revokeJobTokens(database.query, jobIds);
      try {
        await client.delete(
          `/api/v1/namespaces/${secret.metadata.namespace}/secrets/${secret.metadata.name}`,
        );
      } catch (error) {
        if (!(error instanceof KubeApiError && error.statusCode === 404)) throw error;
      }
      this.options.log?.info(
        { secret: `${secret.metadata.namespace}/${secret.metadata.name}`, jobs: jobIds },
        'token Secret of ended jobs deleted',
      );
    }
  }
}

/** namespace/name of the pod to create (a slot id starts with its namespace). */
function podKey(pod: PodToCreate): string {
  return `${pod.slotId.split('/')[0]}/${pod.name}`;
}

export { ANNOTATION_JOB_IDS };
