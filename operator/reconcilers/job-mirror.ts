// Jobs posted through the API get a Job CR in the cluster (a mirror: labelled origin=api, no owner,
// annotated with the job's id), so `kubectl get qajob` shows every job. The Job reconciler adopts
// a mirror by its annotation and never ingests it as a new job; jobs ingested from CRs already
// have their mapping when their creation is announced, so they are not mirrored: no loop.
import type { OpenDatabase } from '../../db/connect.js';
import { jobsWithoutResource, type MirrorCandidate } from '../../db/job-resources.js';
import type { Logger } from '../../runtime/logger.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { KUBEQA_API_VERSION } from '../kube/crds.js';
import { ANNOTATION_JOB_ID, LABEL_ORIGIN, mirrorName, mirrorSettings } from './job-spec.js';

export function mirrorCr(job: MirrorCandidate, namespace: string): Record<string, unknown> {
  return {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Job',
    metadata: {
      name: mirrorName(job.id),
      namespace,
      labels: { [LABEL_ORIGIN]: 'api', 'app.kubernetes.io/part-of': 'kubeqa' },
      annotations: { [ANNOTATION_JOB_ID]: String(job.id) },
    },
    spec: {
      settings: mirrorSettings(job.settings),
      priority: Math.max(-100, Math.min(1000, job.priority)),
    },
  };
}

export class JobMirror {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly database: OpenDatabase,
    private readonly namespace: string,
    private readonly log?: Logger,
  ) {}

  /** Creates the CRs of these jobs (all pending unmirrored jobs when undefined), one batch at a time. */
  mirror(ids?: readonly number[]): Promise<void> {
    this.chain = this.chain
      .then(() => this.run(ids))
      .catch((error: Error) => {
        this.log?.warn({ err: error.message }, 'mirroring API jobs as Job CRs failed');
      });
    return this.chain;
  }

  private async run(ids?: readonly number[]): Promise<void> {
    const jobs = await jobsWithoutResource(this.database.query, ids);
    for (const job of jobs) {
      const body = mirrorCr(job, this.namespace);
      if (!(body.spec as { settings: Record<string, string> }).settings.TEST) continue;
      try {
        await this.client.create(`/apis/${KUBEQA_API_VERSION}/namespaces/${this.namespace}/jobs`, body);
      } catch (error) {
        if (error instanceof KubeApiError && error.statusCode === 409) continue; // made before a restart
        this.log?.warn(
          { jobId: job.id, err: (error as Error).message },
          'cannot create the Job CR of an API job',
        );
      }
    }
  }
}
