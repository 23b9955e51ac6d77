// FAKE RUNNER. No kubelet runs here, so a test pod's runner container never starts. This helper
// plays that runner for the pods the operator created: it reads each job's token from the pod's
// Secret exactly as the container's env (secretKeyRef) would get it, and reports through the
// real runner API (status, set_done) with X-Kubeqa-Job-Token, as `kubeqa worker run-job` does.
// Together with FakeKubelet (pod phases) it stands in for the node; everything else is real.
import type { KubeClient } from '../../operator/kube/client.js';

export interface PodLike {
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec: {
    containers: Array<{
      name: string;
      args?: string[];
      env?: Array<{
        name: string;
        value?: string;
        valueFrom?: { secretKeyRef?: { name: string; key: string } };
      }>;
    }>;
  };
}

export class FakeRunner {
  constructor(
    private readonly client: KubeClient,
    private readonly apiUrl: string,
  ) {}

  /** The job ids the pod's runner would run, in order (its `--job` arguments). */
  jobsOf(pod: PodLike): number[] {
    const args = pod.spec.containers.find((c) => c.name === 'runner')?.args ?? [];
    const ids: number[] = [];
    args.forEach((arg, i) => {
      if (arg === '--job') ids.push(Number(args[i + 1]));
    });
    return ids;
  }

  /** The job's token as the runner container's environment holds it. */
  async tokenOf(pod: PodLike, jobId: number): Promise<string> {
    const env = pod.spec.containers.find((c) => c.name === 'runner')?.env ?? [];
    const ref =
      env.find((e) => e.name === `KUBEQA_JOB_TOKEN_${jobId}`)?.valueFrom?.secretKeyRef ??
      (this.jobsOf(pod)[0] === jobId
        ? env.find((e) => e.name === 'KUBEQA_JOB_TOKEN')?.valueFrom?.secretKeyRef
        : undefined);
    if (!ref) throw new Error(`pod ${pod.metadata.name} has no token reference for job ${jobId}`);
    const secret = await this.client.get<{ data: Record<string, string> }>(
      `/api/v1/namespaces/${pod.metadata.namespace}/secrets/${ref.name}`,
    );
    const value = secret.data[ref.key];
    if (!value) throw new Error(`Secret ${ref.name} has no ${ref.key}`);
    return Buffer.from(value, 'base64').toString('utf8');
  }

  private async post(jobId: number, token: string, path: string, body: unknown): Promise<void> {
    const res = await fetch(`${this.apiUrl}/api/v1/jobs/${jobId}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-kubeqa-job-token': token },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`runner API ${path} of job ${jobId}: ${res.status} ${await res.text()}`);
  }

  /** Runs one job of the pod: running with one module, then done with `result`. */
  async run(pod: PodLike, jobId: number, result = 'passed'): Promise<void> {
    const token = await this.tokenOf(pod, jobId);
    await this.post(jobId, token, 'status', {
      state: 'running',
      modules: [{ name: 'boot', category: 'fake', result: 'running' }],
    });
    await this.post(jobId, token, 'status', {
      state: 'running',
      modules: [{ name: 'boot', category: 'fake', result: result === 'passed' ? 'passed' : 'failed' }],
    });
    await this.post(jobId, token, 'set_done', { result });
  }
}
