// The Job reconciler: a Job CR is ingested into PostgreSQL (with its directly chained and parallel
// neighbours, in one transaction), and its status is a projection of the job's row: one apiserver
// write per new CR (its status). Deleting the CR cancels a job that has not ended: the informer's
// delete event while the operator runs, and a sweep at start for CRs deleted while it was away
// (`sweepDeleted`), so no finalizer is needed. CRs still carrying the finalizer of earlier versions
// are let go once their job is final and its pod gone. A finished CR with ttlSecondsAfterFinished
// is deleted after that many seconds (the job's history stays in the database). The mirror CRs of
// API jobs carry the job's id and are adopted, never ingested again.
import type { OpenDatabase } from '../../db/connect.js';
import {
  adoptMirror,
  type IngestMember,
  jobOfResource,
  jobStatusRows,
  pendingResources,
  resourceJobsOfUids,
} from '../../db/job-resources.js';
import { FINAL_STATES } from '../../domain/jobs/states.js';
import type { Logger } from '../../runtime/logger.js';
import { type Condition, findCondition, setCondition } from '../controller/conditions.js';
import type { ReconcileResult, Reconciler } from '../controller/controller.js';
import { type Informer, type KubeObject, objectKey } from '../controller/informer.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { KUBEQA_API_VERSION } from '../kube/crds.js';
import type { EventRecorder } from '../kube/events.js';
import { IngestBatcher } from './ingest-batcher.js';
import {
  ANNOTATION_JOB_ID,
  ingestGroup,
  JOB_FINALIZER,
  type JobCr,
  type JobSpecView,
  jobSpecOf,
} from './job-spec.js';
import { type JobConditionReason, type JobCrStatus, jobCrStatus, ttlDecision } from './job-status.js';

export interface JobReconcilerOptions {
  /** Cancels a job (with openQA's propagation to related jobs): the scheduler's cancel. */
  cancel(jobId: number): Promise<unknown>;
  /** Whether a test pod of the job still exists (the finalizer waits for it to be gone). */
  hasPod(jobId: number): boolean;
  /** Base URL of the web UI for status.url. */
  webUrl: string;
  /** How long a new CR waits before ingest, so its directly chained/parallel group arrives whole. */
  settleMs?: number;
  /**
   * How long the first status of a just-ingested Job waits (default 0: written at once). With
   * free capacity the scheduler assigns the job within that time, and its job event brings the
   * key back earlier: the status is then written once, already assigned, instead of queued and
   * then assigned (one apiserver write per Job CR less in a burst).
   */
  statusCoalesceMs?: number;
  /** Asks for a reconcile of another Job (children of a Job just queued). */
  wake?: (key: string) => void;
  events?: EventRecorder;
  log?: Logger;
  now?: () => Date;
}

const FINAL = new Set<string>(FINAL_STATES);

function jobsPath(namespace: string, name?: string): string {
  return `/apis/${KUBEQA_API_VERSION}/namespaces/${namespace}/jobs${name ? `/${name}` : ''}`;
}

/** Conditions and fields compared without lastTransitionTime. */
function sameStatus(a: Record<string, unknown> | undefined, b: Record<string, unknown>): boolean {
  const strip = (s: Record<string, unknown> | undefined) =>
    JSON.stringify({
      ...s,
      conditions: ((s?.conditions as Condition[] | undefined) ?? []).map(
        ({ lastTransitionTime: _, ...rest }) => rest,
      ),
    });
  return strip(a) === strip(b);
}

function addTo(map: Map<string, Set<string>>, key: string, name: string): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(name);
}

function removeFrom(map: Map<string, Set<string>>, key: string, name: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(name);
  if (set.size === 0) map.delete(key);
}

export class JobReconciler implements Reconciler {
  readonly name = 'job';
  /** job id → CR key, for routing job events and pod events to the CR. */
  readonly keyOfJob = new Map<number, string>();
  private readonly jobOfUid = new Map<string, number>();
  /** "namespace/name" → names of Jobs that name it as a directly chained or parallel parent. */
  private readonly dependents = new Map<string, Set<string>>();
  /** "namespace/name" → names of Jobs that name it as a parent of any kind (woken when it changes). */
  private readonly children = new Map<string, Set<string>>();
  /** What `observe` put into `dependents` and `children` for a Job, so it can be taken out again. */
  private readonly registered = new Map<string, { dependents: string[]; children: string[] }>();
  /** When a CR not ingested yet was first seen (dropped once it is ingested). */
  private readonly firstSeen = new Map<string, number>();
  /** Parsed specs of CRs not ingested yet (dropped once ingested; parsed again when asked). */
  private readonly specs = new Map<string, { generation: number | undefined; spec: JobSpecView | Error }>();
  /** CRs deleted whose job may still need cancelling, by key. */
  private readonly deleted = new Map<string, { uid: string; jobId: number | undefined }>();
  /** Set once `preload` read the mapping of every cached CR: a uid missing from jobOfUid is new. */
  private preloaded = false;
  private readonly batcher: IngestBatcher;

  constructor(
    private readonly client: KubeClient,
    private readonly jobs: Informer<KubeObject>,
    private readonly database: OpenDatabase,
    private readonly options: JobReconcilerOptions,
  ) {
    this.batcher = new IngestBatcher(database);
  }

  /** Feed from the informer's add/update: remembers who depends on whom. */
  observe(obj: KubeObject): string[] {
    const cr = obj as unknown as JobCr;
    const key = objectKey(obj);
    const uid = cr.metadata.uid;
    if (!this.firstSeen.has(key) && !(uid && this.jobOfUid.has(uid))) this.firstSeen.set(key, Date.now());
    const namespace = cr.metadata.namespace ?? 'default';
    const deps = cr.spec?.dependencies ?? {};
    const direct = [...(deps.startDirectlyAfter ?? []), ...(deps.parallelWith ?? [])].map(
      (parent) => `${namespace}/${parent}`,
    );
    const any = [
      ...(deps.startAfter ?? []),
      ...(deps.startDirectlyAfter ?? []),
      ...(deps.parallelWith ?? []),
    ].map((parent) => `${namespace}/${parent}`);
    this.unregister(key, cr.metadata.name);
    if (direct.length > 0 || any.length > 0) {
      for (const parentKey of direct) addTo(this.dependents, parentKey, cr.metadata.name);
      for (const parentKey of any) addTo(this.children, parentKey, cr.metadata.name);
      this.registered.set(key, { dependents: direct, children: any });
    }
    // Children waiting for this Job to exist (or to be queued) are woken.
    return [...direct, ...this.childrenOf(key)];
  }

  /** Takes a Job out of its parents' dependents and children (the maps shrink with the CRs). */
  private unregister(key: string, name: string): void {
    const before = this.registered.get(key);
    if (!before) return;
    this.registered.delete(key);
    for (const parentKey of before.dependents) removeFrom(this.dependents, parentKey, name);
    for (const parentKey of before.children) removeFrom(this.children, parentKey, name);
  }

  /** How many entries the per-CR maps hold (they shrink with the CRs; tests and metrics). */
  trackedCounts(): Record<string, number> {
    return {
      dependents: this.dependents.size,
      children: this.children.size,
      registered: this.registered.size,
      firstSeen: this.firstSeen.size,
      specs: this.specs.size,
      jobOfUid: this.jobOfUid.size,
      keyOfJob: this.keyOfJob.size,
      deleted: this.deleted.size,
    };
  }

  /** Whether the CR's job is known to exist already. */
  isIngested(obj: KubeObject): boolean {
    return obj.metadata.uid !== undefined && this.jobOfUid.has(obj.metadata.uid);
  }

  /** Keys of the Jobs naming this one as a parent. */
  childrenOf(key: string): string[] {
    const namespace = key.split('/')[0];
    return [...(this.children.get(key) ?? [])].map((child) => `${namespace}/${child}`);
  }

  /**
   * Feed from the informer's delete: forgets the CR, and remembers it as deleted so that the next
   * reconcile of its key cancels its job if the job has not ended (the caller enqueues the key).
   */
  forget(obj: KubeObject): void {
    const key = objectKey(obj);
    this.firstSeen.delete(key);
    this.specs.delete(key);
    this.unregister(key, obj.metadata.name);
    const uid = obj.metadata.uid;
    const jobId = uid ? this.jobOfUid.get(uid) : undefined;
    if (uid) {
      this.jobOfUid.delete(uid);
      this.deleted.set(key, { uid, jobId });
    }
    if (jobId !== undefined && this.keyOfJob.get(jobId) === key) this.keyOfJob.delete(jobId);
  }

  /**
   * Reads the job of every cached CR at once (call when the informer has synced, before the
   * workers start): later, a CR whose uid is not known is new and costs no lookup.
   */
  async preload(): Promise<void> {
    const uids = this.jobs
      .list()
      .map((o) => o.metadata.uid)
      .filter((uid): uid is string => uid !== undefined);
    const known = await resourceJobsOfUids(this.database.query, uids);
    for (const [uid, jobId] of known) this.jobOfUid.set(uid, jobId);
    for (const o of this.jobs.list()) {
      const jobId = o.metadata.uid ? known.get(o.metadata.uid) : undefined;
      if (jobId === undefined) continue;
      this.keyOfJob.set(jobId, objectKey(o));
      this.firstSeen.delete(objectKey(o));
    }
    this.preloaded = true;
  }

  /**
   * Jobs whose CR was deleted while no operator watched (call when the informer has synced):
   * each job that has not ended and whose CR (by uid) is gone is remembered as deleted; returns
   * their keys, for the caller to enqueue. `namespace` limits it to the watched namespace.
   */
  async sweepDeleted(namespace: string | undefined): Promise<string[]> {
    const present = new Set(this.jobs.list().map((o) => o.metadata.uid));
    const keys: string[] = [];
    for (const ref of await pendingResources(this.database.query, namespace)) {
      if (present.has(ref.uid)) continue;
      const key = `${ref.namespace}/${ref.name}`;
      this.deleted.set(key, { uid: ref.uid, jobId: ref.jobId });
      keys.push(key);
    }
    return keys;
  }

  private specOf(namespace: string, name: string): JobSpecView | Error | undefined {
    const key = `${namespace}/${name}`;
    const cr = this.jobs.get(key) as unknown as JobCr | undefined;
    if (!cr) return undefined;
    const cached = this.specs.get(key);
    if (cached && cached.generation === cr.metadata.generation) return cached.spec;
    let spec: JobSpecView | Error;
    try {
      spec = jobSpecOf(cr);
    } catch (error) {
      spec = error as Error;
    }
    this.specs.set(key, { generation: cr.metadata.generation, spec });
    return spec;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const cr = this.jobs.get(key) as unknown as JobCr | undefined;
    const gone = this.deleted.get(key);
    if (gone && gone.uid !== cr?.metadata.uid) {
      await this.cancelDeleted(key, gone);
      this.deleted.delete(key);
    }
    if (!cr?.metadata.uid) return undefined;
    if (cr.metadata.deletionTimestamp) return this.finalize(cr);
    let jobId = await this.jobIdOf(cr, this.preloaded);
    if (jobId === undefined) {
      const outcome = await this.ingest(cr);
      if ('wait' in outcome) return outcome.wait;
      jobId = outcome.jobId;
      this.keyOfJob.set(jobId, key);
      const coalesce = this.options.statusCoalesceMs ?? 0;
      if (coalesce > 0) return { requeueAfterMs: coalesce };
    }
    this.keyOfJob.set(jobId, key);
    return this.project(cr, jobId);
  }

  /**
   * Cancels now the jobs of the deleted CRs `keys` (from `sweepDeleted`); returns the keys that
   * failed, for the caller to enqueue (their reconcile tries again).
   */
  async cancelDeletedNow(keys: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    for (const key of keys) {
      const gone = this.deleted.get(key);
      if (!gone) continue;
      try {
        await this.cancelDeleted(key, gone);
        this.deleted.delete(key);
      } catch (error) {
        this.options.log?.warn(
          { job: key, err: (error as Error).message },
          'cannot cancel a deleted Job’s job yet',
        );
        failed.push(key);
      }
    }
    return failed;
  }

  /** A deleted CR's job, cancelled when it has not ended (the CR is gone: nothing to wait for). */
  private async cancelDeleted(key: string, gone: { uid: string; jobId: number | undefined }): Promise<void> {
    const jobId =
      gone.jobId ?? this.jobOfUid.get(gone.uid) ?? (await jobOfResource(this.database.query, gone.uid));
    this.jobOfUid.delete(gone.uid);
    if (jobId === undefined) return; // never ingested
    if (this.keyOfJob.get(jobId) === key) this.keyOfJob.delete(jobId);
    const row = (await jobStatusRows(this.database.query, [jobId])).get(jobId);
    if (!row || FINAL.has(row.state)) return;
    await this.options.cancel(jobId);
    this.options.log?.info({ job: key, jobId }, 'Job deleted; its job is cancelled');
  }

  /** The CR's job; `known`: the mapping was preloaded, so a uid not in it needs no lookup. */
  private async jobIdOf(cr: JobCr, known = false): Promise<number | undefined> {
    const uid = cr.metadata.uid as string;
    let jobId = this.jobOfUid.get(uid);
    if (jobId === undefined && !known) jobId = await jobOfResource(this.database.query, uid);
    if (jobId === undefined) {
      const annotated = cr.metadata.annotations?.[ANNOTATION_JOB_ID];
      if (annotated && /^\d+$/.test(annotated)) {
        const ref = { namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name, uid };
        if (await adoptMirror(this.database.query, Number(annotated), ref)) jobId = Number(annotated);
      }
    }
    if (jobId !== undefined) this.jobOfUid.set(uid, jobId);
    return jobId;
  }

  /** Ingests the CR's group, or says why (and how long) it waits. */
  private async ingest(cr: JobCr): Promise<{ jobId: number } | { wait: ReconcileResult | undefined }> {
    const namespace = cr.metadata.namespace ?? 'default';
    const own = this.specOf(namespace, cr.metadata.name);
    if (own instanceof Error) {
      await this.writeStatus(cr, this.pendingStatus(cr, 'InvalidSpec', own.message));
      await this.options.events?.record(this.target(cr), 'Warning', 'InvalidSpec', own.message);
      return { wait: undefined };
    }
    if (cr.spec?.suspend) {
      await this.writeStatus(cr, this.pendingStatus(cr, 'Suspended', 'spec.suspend is true'));
      return { wait: undefined };
    }
    const group = ingestGroup(
      cr.metadata.name,
      (name) => {
        const spec = this.specOf(namespace, name);
        return spec instanceof Error ? undefined : spec;
      },
      (name) => this.dependents.get(`${namespace}/${name}`) ?? [],
    );
    const waitFor = async (message: string, retryMs?: number) => {
      await this.writeStatus(cr, this.pendingStatus(cr, 'WaitingForDependency', message));
      return { wait: retryMs === undefined ? undefined : { requeueAfterMs: retryMs } };
    };
    if (group.missing.length > 0)
      return waitFor(`waiting for Job ${group.missing.join(', ')} to be created (or valid)`, 30_000);
    const members: IngestMember[] = [];
    const parentIds = new Map<string, number>();
    // A new Job waits until it (and every new member of its group) settled, so that a directly
    // chained or parallel group applied from one file arrives whole, whichever member comes
    // first: a Job naming no parent may still be named by one created a moment later.
    const settle = this.options.settleMs ?? 0;
    const now = Date.now();
    for (const name of group.members) {
      const member = this.jobs.get(`${namespace}/${name}`) as unknown as JobCr;
      const seen = this.firstSeen.get(`${namespace}/${name}`);
      if (seen !== undefined && now - seen < settle)
        return { wait: { requeueAfterMs: settle - (now - seen) } };
      if (member.spec?.suspend) return waitFor(`Job ${name} of the same group is suspended`, undefined);
      const spec = this.specOf(namespace, name) as JobSpecView;
      for (const parent of spec.parents) {
        if (group.members.includes(parent.name)) continue;
        const parentCr = this.jobs.get(`${namespace}/${parent.name}`);
        if (!parentCr?.metadata.uid) return waitFor(`waiting for Job ${parent.name} to be created`, 30_000);
        const parentId = await this.jobIdOf(parentCr as unknown as JobCr);
        if (parentId === undefined) return waitFor(`waiting for Job ${parent.name} to be queued`, 1_000);
        parentIds.set(`${namespace}/${parent.name}`, parentId);
      }
      members.push({
        namespace,
        name,
        uid: member.metadata.uid as string,
        settings: spec.settings,
        priority: spec.priority,
        parents: spec.parents,
      });
    }
    const seenAt = this.firstSeen.get(objectKey(cr as KubeObject));
    const submittedAt = Date.now();
    const ids = await this.batcher.submit(members, parentIds, `${namespace}/${group.members[0]}`);
    for (const member of members) {
      const id = ids.get(member.uid);
      if (id === undefined) continue;
      const key = `${namespace}/${member.name}`;
      // still the same CR (not deleted meanwhile: then the deletion's reconcile cancels the job)
      if (this.jobs.get(key)?.metadata.uid !== member.uid) continue;
      this.jobOfUid.set(member.uid, id);
      this.keyOfJob.set(id, key);
      this.firstSeen.delete(key);
      this.specs.delete(key);
    }
    for (const member of members)
      for (const child of this.childrenOf(`${namespace}/${member.name}`)) this.options.wake?.(child);
    const jobId = ids.get(cr.metadata.uid as string) as number;
    this.options.log?.debug(
      {
        job: objectKey(cr as KubeObject),
        jobId,
        sinceSeenMs: seenAt === undefined ? undefined : submittedAt - seenAt,
        writeMs: Date.now() - submittedAt,
      },
      'Job ingested',
    );
    return { jobId };
  }

  private pendingStatus(cr: JobCr, reason: JobConditionReason, message: string): Record<string, unknown> {
    const now = this.options.now?.() ?? new Date();
    const generation = cr.metadata.generation;
    let conditions = (cr.status?.conditions ?? []) as Condition<JobConditionReason>[];
    conditions = setCondition(
      conditions,
      { type: 'Scheduled', status: 'False', reason, message, observedGeneration: generation },
      now,
    );
    return {
      phase: 'scheduled',
      result: 'none',
      reason: message.slice(0, 4096),
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions,
    };
  }

  /** Writes the job's status onto the CR; deletes a finished CR after its TTL. */
  private async project(cr: JobCr, jobId: number): Promise<ReconcileResult | undefined> {
    const row = (await jobStatusRows(this.database.query, [jobId])).get(jobId);
    if (!row) return undefined; // the job was deleted through the API; nothing to show
    const now = this.options.now?.() ?? new Date();
    const previous = (cr.status?.conditions ?? []) as Condition<JobConditionReason>[];
    const status: JobCrStatus = jobCrStatus(row, {
      webUrl: this.options.webUrl,
      generation: cr.metadata.generation,
      suspended: false,
      previous,
      now,
    });
    const before = cr.status?.phase as string | undefined;
    await this.writeStatus(cr, status as unknown as Record<string, unknown>);
    if (before !== status.phase) await this.announce(cr, status, previous);
    if (FINAL.has(row.state)) {
      const ttl = ttlDecision(row.finishedAt, cr.spec?.ttlSecondsAfterFinished, now);
      if (ttl.delete) {
        await this.deleteCr(cr);
        return undefined;
      }
      return ttl.requeueAfterMs !== undefined ? { requeueAfterMs: ttl.requeueAfterMs } : undefined;
    }
    return undefined;
  }

  private async announce(
    cr: JobCr,
    status: JobCrStatus,
    previous: readonly Condition<JobConditionReason>[],
  ): Promise<void> {
    const events = this.options.events;
    if (!events) return;
    const changed = (type: string) =>
      findCondition(previous, type)?.status !== findCondition(status.conditions, type)?.status;
    const finished = findCondition(status.conditions, 'Finished');
    if (finished?.status === 'True' && changed('Finished')) {
      const ok = status.result === 'passed' || status.result === 'softfailed';
      await events.record(
        this.target(cr),
        ok ? 'Normal' : 'Warning',
        finished.reason,
        `job ${status.jobId} ${status.phase}: ${status.result}${status.reason ? ` (${status.reason})` : ''}`,
      );
    } else if (findCondition(status.conditions, 'Running')?.status === 'True' && changed('Running')) {
      await events.record(this.target(cr), 'Normal', 'Started', `job ${status.jobId} started`);
    }
  }

  private async finalize(cr: JobCr): Promise<ReconcileResult | undefined> {
    if (!cr.metadata.finalizers?.includes(JOB_FINALIZER)) return undefined;
    const jobId = await this.jobIdOf(cr);
    if (jobId !== undefined) {
      this.keyOfJob.set(jobId, objectKey(cr as KubeObject));
      const row = (await jobStatusRows(this.database.query, [jobId])).get(jobId);
      if (row && !FINAL.has(row.state)) {
        await this.options.cancel(jobId);
        await this.options.events?.record(
          this.target(cr),
          'Normal',
          'Cancelling',
          `the Job was deleted; cancelling job ${jobId}`,
        );
        // The job's state event brings the key back; the requeue is a safety net.
        return { requeueAfterMs: 5_000 };
      }
      if (this.options.hasPod(jobId)) return { requeueAfterMs: 5_000 };
    }
    await this.patchFinalizers(
      cr,
      (cr.metadata.finalizers ?? []).filter((f) => f !== JOB_FINALIZER),
    );
    return undefined;
  }

  private async patchFinalizers(cr: JobCr, finalizers: string[]): Promise<JobCr | undefined> {
    try {
      return await this.client.patch<JobCr>(
        jobsPath(cr.metadata.namespace ?? 'default', cr.metadata.name),
        { metadata: { finalizers, resourceVersion: cr.metadata.resourceVersion } },
        'merge',
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  private async writeStatus(cr: JobCr, status: Record<string, unknown>): Promise<void> {
    if (sameStatus(cr.status, status)) return;
    try {
      await this.client.patch(
        `${jobsPath(cr.metadata.namespace ?? 'default', cr.metadata.name)}/status`,
        { status },
        'merge',
      );
      cr.status = status as JobCr['status'];
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return;
      throw error;
    }
  }

  private async deleteCr(cr: JobCr): Promise<void> {
    try {
      await this.client.delete(jobsPath(cr.metadata.namespace ?? 'default', cr.metadata.name), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: cr.metadata.uid },
      });
      this.options.log?.debug({ job: objectKey(cr as KubeObject) }, 'finished Job deleted after its TTL');
    } catch (error) {
      if (error instanceof KubeApiError && (error.statusCode === 404 || error.statusCode === 409)) return;
      throw error;
    }
  }

  private target(cr: JobCr) {
    return { apiVersion: KUBEQA_API_VERSION, kind: 'Job', metadata: cr.metadata };
  }
}
