import { describe, expect, it } from 'vitest';
import {
  type ActiveJob,
  type PodSummary,
  planPods,
  podJobIds,
} from '../../operator/executors/kubernetes-plan.js';
import { buildSlotPod } from '../../operator/pods/build-pod.js';

const job = (id: number, state: string, slotId: string, sequenceIndex: number | null = null): ActiveJob => ({
  id,
  state,
  slotId,
  sequenceIndex,
});
const pod = (name: string, jobIds: number[], outcome: PodSummary['outcome']): PodSummary => ({
  name,
  jobIds,
  outcome,
  deleting: false,
});
const base = { pods: [], parallel: [], retryAt: new Map(), now: 1000 };

describe('planPods', () => {
  it('makes one pod per slot assignment, a directly chained sequence in order in one pod', () => {
    const plan = planPods({
      ...base,
      active: [
        job(7, 'assigned', 'ns/p/0'),
        job(12, 'assigned', 'ns/p/1', 1),
        job(11, 'assigned', 'ns/p/1', 0),
      ],
    });
    expect(plan.create).toHaveLength(2);
    expect(plan.create).toEqual(
      expect.arrayContaining([
        [{ name: 'kubeqa-job-11', slotId: 'ns/p/1', jobIds: [11, 12] }],
        [{ name: 'kubeqa-job-7', slotId: 'ns/p/0', jobIds: [7] }],
      ]),
    );
    expect(plan.died).toEqual([]);
  });

  it('groups the pods of a parallel cluster so they are created all or none', () => {
    const plan = planPods({
      ...base,
      active: [job(1, 'assigned', 'ns/p/0'), job(2, 'assigned', 'ns/p/1'), job(3, 'assigned', 'ns/p/2')],
      parallel: [[2, 1]],
    });
    expect(plan.create.map((group) => group.map((p) => p.jobIds[0]))).toEqual(
      expect.arrayContaining([[1, 2], [3]]),
    );
  });

  it('makes nothing for jobs whose pod exists (a restarted operator adopts it)', () => {
    const plan = planPods({
      ...base,
      active: [job(5, 'assigned', 'ns/p/0', 0), job(6, 'assigned', 'ns/p/0', 1)],
      pods: [pod('ns/kubeqa-job-5', [5, 6], { kind: 'pending', reason: 'pod pending' })],
    });
    expect(plan).toMatchObject({ create: [], died: [], remove: [] });
  });

  it('ends the active jobs of a failed, finished or vanished pod as runner died', () => {
    const plan = planPods({
      ...base,
      active: [
        job(1, 'running', 'ns/p/0'),
        job(2, 'running', 'ns/p/1', 0),
        job(3, 'assigned', 'ns/p/1', 1),
        job(4, 'setup', 'ns/p/2'),
      ],
      pods: [
        pod('ns/kubeqa-job-1', [1], { kind: 'failed', reason: 'runner died: exit code 3' }),
        pod('ns/kubeqa-job-2', [2, 3], { kind: 'succeeded' }),
      ],
    });
    expect(plan.died).toEqual(
      expect.arrayContaining([
        { jobId: 1, reason: 'runner died: exit code 3' },
        { jobId: 2, reason: 'runner died: the test pod ended before the job reported its result' },
        { jobId: 3, reason: 'runner died: the test pod ended before the job reported its result' },
        { jobId: 4, reason: 'runner died: the test pod is gone' },
      ]),
    );
    expect(plan.create).toEqual([]);
  });

  it('deletes pods whose jobs have all ended, and pods of unknown jobs', () => {
    const plan = planPods({
      ...base,
      active: [job(2, 'running', 'ns/p/1')],
      pods: [
        pod('ns/kubeqa-job-1', [1], { kind: 'running' }),
        pod('ns/kubeqa-job-2', [2], { kind: 'running' }),
        { ...pod('ns/kubeqa-job-3', [3], { kind: 'gone', reason: 'x' }), deleting: true },
      ],
    });
    expect(plan.remove).toEqual(['ns/kubeqa-job-1']);
    expect(plan.died).toEqual([]);
  });

  it('holds back a group whose creation failed until its retry time', () => {
    const plan = planPods({
      ...base,
      active: [job(1, 'assigned', 'ns/p/0'), job(2, 'assigned', 'ns/p/1')],
      parallel: [[1, 2]],
      retryAt: new Map([[2, 5000]]),
    });
    expect(plan.create).toEqual([]);
    expect(plan.retryAt).toBe(5000);
  });
});

describe('the pod of a slot assignment', () => {
  const config = {
    runnerImage: 'runner:1',
    apiUrl: 'http://api',
    cacheHostPath: '/cache',
    kvmDevice: { kind: 'hostPath' as const },
    kvmGroupId: 36,
    runAsUser: 1000,
  };
  it('runs a sequence in order with each job’s token from the Secret, never as a value', () => {
    const tokens = new Map([
      [11, 'secret-a'],
      [12, 'secret-b'],
    ]);
    const { pod, secret } = buildSlotPod(
      [
        { id: 11, namespace: 'ns', settings: { TEST: 'a' } },
        { id: 12, namespace: 'ns', settings: { TEST: 'b' } },
      ],
      { name: 'pool', spec: { workerClasses: ['q'], arch: 'x86_64' } },
      config,
      tokens,
      'ns/pool/0',
    );
    const text = JSON.stringify(pod);
    expect(text).not.toContain('secret-a');
    expect(text).not.toContain('secret-b');
    const runner = (pod.spec as { containers: Array<{ args: string[]; env: Array<{ name: string }> }> })
      .containers[0];
    expect(runner?.args).toEqual(['worker', 'run-job', '--job', '11', '--job', '12']);
    expect(runner?.env.map((e) => e.name)).toEqual(
      expect.arrayContaining([
        'KUBEQA_JOB_TOKEN',
        'KUBEQA_JOB_TOKEN_11',
        'KUBEQA_JOB_TOKEN_12',
        'KUBEQA_JOB_IDS',
      ]),
    );
    expect((secret as { stringData: object }).stringData).toEqual({
      token: 'secret-a',
      'token-11': 'secret-a',
      'token-12': 'secret-b',
    });
    expect(podJobIds(pod as { metadata: { annotations: Record<string, string> } })).toEqual([11, 12]);
    expect((pod.metadata as { name: string }).name).toBe('kubeqa-job-11');
  });
});
