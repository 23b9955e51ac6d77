// Operator benchmarks against the harness's real kube-apiserver + etcd and PostgreSQL 15, with the
// operator as its own process (`kubeqa operator`, as the chart runs it) so its memory is its own:
//   1. Ingest: N Job CRs (default 15,000) created as fast as the apiserver takes them, for a
//      worker class no pool offers (they all stay queued). Per CR: time from its create request
//      to the status showing it queued (status.jobId, phase scheduled, condition Scheduled
//      written); p50/p95/max, ingest throughput, and the operator's peak RSS.
//   2. Pods with free capacity: a Worker pool with M slots (default 200) and M Job CRs for it,
//      created one after another; per CR: create request → test pod created (pod ADDED on a
//      watch); p50/p95.
// Latencies are observed on watches by this process (one watch per collection).
// Run: npx tsx bench/operator/run.ts [--jobs 15000] [--pods 200] [--concurrency 16]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { packageRoot } from '../../runtime/package-root.js';
import { createDatabase, testEnv } from '../../test/env/index.js';
import { freePort } from '../../test/env/ports.js';
import { type ManagedProcess, spawnService, waitUntilReady } from '../../test/env/processes.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const JOBS = arg('jobs', 15_000);
const PODS = arg('pods', 200);
const CONCURRENCY = arg('concurrency', 16);

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
const fmt = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

interface Watched {
  seen: Map<string, number>;
  stop(): void;
}

/** Records when each object of a collection first satisfies `ready` (on a watch). */
async function watchCollection<T extends { metadata: { name: string } }>(
  client: KubeClient,
  path: string,
  ready: (obj: T) => boolean,
  onSeen?: (name: string) => void,
): Promise<Watched> {
  const seen = new Map<string, number>();
  const controller = new AbortController();
  const list = await client.get<{ metadata: { resourceVersion: string } }>(path);
  let rv = list.metadata.resourceVersion;
  void (async () => {
    while (!controller.signal.aborted) {
      try {
        for await (const event of client.watch<T>(`${path}?resourceVersion=${rv}`, controller.signal)) {
          const obj = event.object as T & { metadata: { resourceVersion?: string } };
          if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
          if (event.type === 'ADDED' || event.type === 'MODIFIED') {
            if (!seen.has(obj.metadata.name) && ready(obj)) {
              seen.set(obj.metadata.name, performance.now());
              onSeen?.(obj.metadata.name);
            }
          }
        }
      } catch {
        // the stream ended; resume from the last version seen
      }
    }
  })();
  return { seen, stop: () => controller.abort() };
}

async function createAll(
  client: KubeClient,
  path: string,
  bodies: Array<{ metadata: { name: string } }>,
  concurrency: number,
): Promise<Map<string, number>> {
  const sent = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++] as { metadata: { name: string } };
      sent.set(body.metadata.name, performance.now());
      for (let attempt = 0; ; attempt++) {
        try {
          await client.create(path, body);
          break;
        } catch (error) {
          if (attempt >= 5) throw error;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sent;
}

function jobBody(name: string, workerClass: string) {
  return {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Job',
    metadata: { name },
    spec: {
      settings: {
        DISTRI: 'bench',
        VERSION: '1',
        FLAVOR: 'dvd',
        ARCH: 'x86_64',
        BUILD: '1',
        TEST: name,
        MACHINE: '64bit',
        WORKER_CLASS: workerClass,
      },
    },
  };
}

async function main() {
  const kube = await testEnv.kube();
  const client = await KubeClient.fromKubeconfig(kube.kubeconfig);
  await installCrds(client);
  const ns = `bench-operator-${Date.now().toString(36)}`;
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const databaseUrl = await createDatabase(await testEnv.postgres(), 'bench_operator');
  const healthPort = await freePort();
  const root = packageRoot();
  const operator: ManagedProcess = spawnService(
    'bench-operator',
    process.execPath,
    ['--import', 'tsx', join(root, 'cli', 'main.ts'), 'operator'],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KUBECONFIG: kube.kubeconfig,
        KUBEQA_DATABASE_URL: databaseUrl,
        KUBEQA_API_URL: 'http://kubeqa-webui.kubeqa.svc:9526',
        KUBEQA_RUNNER_IMAGE: 'ghcr.io/kubeqa/worker:bench',
        KUBEQA_WATCH_NAMESPACE: ns,
        KUBEQA_LEADER_ELECTION: 'false',
        KUBEQA_HEALTH_PORT: String(healthPort),
        KUBEQA_LOG_LEVEL: 'warn',
        POD_NAMESPACE: ns,
      },
    },
  );
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMiB(operator.pid));
    } catch {}
  }, 100);
  try {
    await waitUntilReady(operator, 'the operator', async () => {
      const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined);
      return res?.status === 200;
    });
    const idleRss = rssMiB(operator.pid);
    const jobsPath = `/apis/${KUBEQA_API_VERSION}/namespaces/${ns}/jobs`;
    const podsPath = `/api/v1/namespaces/${ns}/pods`;

    // 2 first (a small pool, free capacity), so its jobs are not queued behind the 15,000.
    await client.create(`/apis/${KUBEQA_API_VERSION}/namespaces/${ns}/workers`, {
      apiVersion: KUBEQA_API_VERSION,
      kind: 'Worker',
      metadata: { name: 'bench' },
      spec: { workerClasses: ['bench_pods'], arch: 'x86_64', maxJobs: PODS },
    });
    let podsLeft = PODS;
    let podsDone!: () => void;
    const allPods = new Promise<void>((resolve) => {
      podsDone = resolve;
    });
    const pods = await watchCollection<{ metadata: { name: string; annotations?: Record<string, string> } }>(
      client,
      podsPath,
      () => true,
      () => {
        if (--podsLeft === 0) podsDone();
      },
    );
    const jobIdOf = new Map<string, number>();
    const podNames: Array<{ metadata: { name: string } }> = Array.from({ length: PODS }, (_, i) =>
      jobBody(`pod-${i}`, 'bench_pods'),
    );
    const podSent = await createAll(client, jobsPath, podNames, 1);
    await allPods;
    const list = await client.get<{
      items: Array<{ metadata: { name: string }; status?: { jobId?: number } }>;
    }>(jobsPath);
    for (const cr of list.items) if (cr.status?.jobId) jobIdOf.set(cr.metadata.name, cr.status.jobId);
    const podLatency: number[] = [];
    for (const [name, sentAt] of podSent) {
      const at = pods.seen.get(`kubeqa-job-${jobIdOf.get(name)}`);
      if (at !== undefined) podLatency.push(at - sentAt);
    }
    pods.stop();
    const afterPodsRss = rssMiB(operator.pid);

    // 1: the 15,000 queued Jobs.
    let left = JOBS;
    let queuedAll!: () => void;
    const allQueued = new Promise<void>((resolve) => {
      queuedAll = resolve;
    });
    const queued = await watchCollection<{
      metadata: { name: string };
      status?: { jobId?: number; conditions?: Array<{ type: string }> };
    }>(
      client,
      jobsPath,
      (cr) =>
        cr.status?.jobId !== undefined && (cr.status.conditions ?? []).some((c) => c.type === 'Scheduled'),
      (name) => {
        if (name.startsWith('q-') && --left === 0) queuedAll();
      },
    );
    const bodies = Array.from({ length: JOBS }, (_, i) => jobBody(`q-${i}`, 'bench_nowhere'));
    const started = performance.now();
    const sent = await createAll(client, jobsPath, bodies, CONCURRENCY);
    const createdIn = performance.now() - started;
    await allQueued;
    const ingestedIn = performance.now() - started;
    queued.stop();
    const latency = [...sent].map(([name, at]) => (queued.seen.get(name) ?? Number.NaN) - at);
    const settledRss = rssMiB(operator.pid);

    const rows = [
      ['Job CRs', String(JOBS)],
      ['created by the client in', `${fmt(createdIn)} (${(JOBS / (createdIn / 1000)).toFixed(0)}/s)`],
      [
        'all queued (status written) after',
        `${fmt(ingestedIn)} (${(JOBS / (ingestedIn / 1000)).toFixed(0)}/s)`,
      ],
      ['create → queued p50', fmt(quantile(latency, 0.5))],
      ['create → queued p95 (target ≤ 1 s)', fmt(quantile(latency, 0.95))],
      ['create → queued max', fmt(Math.max(...latency))],
      [`create → pod created p50 (${PODS} free slots)`, fmt(quantile(podLatency, 0.5))],
      [`create → pod created p95 (${PODS} free slots)`, fmt(quantile(podLatency, 0.95))],
      [
        'operator RSS idle / after pods / with all CRs',
        `${idleRss.toFixed(0)} / ${afterPodsRss.toFixed(0)} / ${settledRss.toFixed(0)} MiB`,
      ],
      ['operator RSS peak (target ≤ 300 MiB)', `${peakRss.toFixed(0)} MiB`],
    ];
    const width = Math.max(...rows.map((r) => (r[0] as string).length));
    for (const [label, value] of rows) console.log(`${(label as string).padEnd(width)}  ${value}`);
  } finally {
    clearInterval(sampler);
    await operator.stop(10_000);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
