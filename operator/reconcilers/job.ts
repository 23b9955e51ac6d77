// The Job reconciler: a Job CR is ingested into PostgreSQL (with its directly chained and parallel
// neighbours, in one transaction), guarded by a finalizer, and its status is a projection of the
// job's row. Deleting the CR cancels a job that has not ended and keeps the finalizer until the
// job is final and its pod is gone; a finished CR with ttlSecondsAfterFinished is deleted after
// that many seconds (the job's history stays in the database). The mirror CRs of API jobs carry
// the job's id and are adopted, never ingested again.
import type { OpenDatabase } from '../../db/connect.js';
import { adoptMirror, type IngestMember, jobOfResource, jobStatusRows } from '../../db/job-resources.js';
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
  /** Asks for a reconcile of another Job (children of a Job just queued). */
  wake?: (key: string) => void;
  events?: EventRecorder;
  log?: Logger;
  now?: () => Date;
}

const FINAL = new Set(['done', 'cancelled']);

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

export class JobReconciler implements Reconciler {
  readonly name = 'job';
  /** job id → CR key, for routing job events and pod events to the CR. */
  readonly keyOfJob = new Map<number, string>();
  private readonly jobOfUid = new Map<string, number>();
  /** "namespace/name" → names of Jobs that name it as a directly chained or parallel parent. */
  private readonly dependents = new Map<string, Set<string>>();
  /** "namespace/name" → names of Jobs that name it as a parent of any kind (woken when it changes). */
  private readonly children = new Map<string, Set<string>>();
  private readonly firstSeen = new Map<string, number>();
  private readonly specs = new Map<string, { generation: number | undefined; spec: JobSpecView | Error }>();
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
    if (!this.firstSeen.has(key)) this.firstSeen.set(key, Date.now());
    const namespace = cr.metadata.namespace ?? 'default';
    const touched: string[] = [];
    const remember = (map: Map<string, Set<string>>, parent: string) => {
      const parentKey = `${namespace}/${parent}`;
      let set = map.get(parentKey);
      if (!set) {
        set = new Set();
        map.set(parentKey, set);
      }
      set.add(cr.metadata.name);
      return parentKey;
    };
    const deps = cr.spec?.dependencies ?? {};
    for (const parent of [...(deps.startDirectlyAfter ?? []), ...(deps.parallelWith ?? [])])
      touched.push(remember(this.dependents, parent));
    for (const parent of [
      ...(deps.startAfter ?? []),
      ...(deps.startDirectlyAfter ?? []),
      ...(deps.parallelWith ?? []),
    ])
      remember(this.children, parent);
    // Children waiting for this Job to exist (or to be queued) are woken.
    touched.push(...this.childrenOf(key));
    return touched;
  }

  /** Keys of the Jobs naming this one as a parent. */
  childrenOf(key: string): string[] {
    const namespace = key.split('/')[0];
    return [...(this.children.get(key) ?? [])].map((child) => `${namespace}/${child}`);
  }

  forget(obj: KubeObject): void {
    const key = objectKey(obj);
    this.firstSeen.delete(key);
    this.specs.delete(key);
    const jobId = obj.metadata.uid ? this.jobOfUid.get(obj.metadata.uid) : undefined;
    if (obj.metadata.uid) this.jobOfUid.delete(obj.metadata.uid);
    if (jobId !== undefined && this.keyOfJob.get(jobId) === key) this.keyOfJob.delete(jobId);
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
    if (!cr?.metadata.uid) return undefined;
    if (cr.metadata.deletionTimestamp) return this.finalize(cr);
    if (!cr.metadata.finalizers?.includes(JOB_FINALIZER)) {
      const patched = await this.patchFinalizers(cr, [...(cr.metadata.finalizers ?? []), JOB_FINALIZER]);
      if (!patched) return undefined;
      cr.metadata.resourceVersion = patched.metadata.resourceVersion;
      cr.metadata.finalizers = patched.metadata.finalizers;
    }
    let jobId = await this.jobIdOf(cr);
    if (jobId === undefined) {
      const outcome = await this.ingest(cr);
      if ('wait' in outcome) return outcome.wait;
      jobId = outcome.jobId;
    }
    this.keyOfJob.set(jobId, key);
    return this.project(cr, jobId);
  }

  private async jobIdOf(cr: JobCr): Promise<number | undefined> {
    const uid = cr.metadata.uid as string;
    let jobId = this.jobOfUid.get(uid) ?? (await jobOfResource(this.database.query, uid));
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
    const settle = this.options.settleMs ?? 0;
    const now = Date.now();
    for (const name of group.members) {
      const member = this.jobs.get(`${namespace}/${name}`) as unknown as JobCr;
      const seen = this.firstSeen.get(`${namespace}/${name}`) ?? now;
      if (now - seen < settle) return { wait: { requeueAfterMs: settle - (now - seen) } };
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
    const ids = await this.batcher.submit(members, parentIds, `${namespace}/${group.members[0]}`);
    for (const member of members) {
      const id = ids.get(member.uid);
      if (id === undefined) continue;
      this.jobOfUid.set(member.uid, id);
      this.keyOfJob.set(id, `${namespace}/${member.name}`);
    }
    for (const member of members)
      for (const child of this.childrenOf(`${namespace}/${member.name}`)) this.options.wake?.(child);
    const jobId = ids.get(cr.metadata.uid as string) as number;
    this.options.log?.debug({ job: objectKey(cr as KubeObject), jobId }, 'Job ingested');
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
