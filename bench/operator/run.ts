// Operator benchmarks against the harness's real kube-apiserver + etcd and PostgreSQL 15, with the
// operator as its own process (`kubeqa operator`, as the chart runs it) so its memory is its own.
// What issue #6 asks, in this order:
//   1. Ingest: N Job CRs (default 15,000) created with C concurrent requests (default 16), for a
//      worker class no pool offers, so they all stay queued. Per CR: create request → status
//      showing it queued (status.jobId and condition Scheduled written); time to ingest all,
//      ingest throughput, p50/p95/max, the operator's peak RSS.
//   2. Then, with those N still present and queued: a Worker pool with M free slots (default 200)
//      and M Job CRs for it, created one after another; per CR: create request → test pod created
//      (pod ADDED on a watch); p50/p95 (target p95 ≤ 1 s). RSS at N CRs (target ≤ 300 MiB).
// The operator runs as compiled JavaScript (`node bin/kubeqa.js operator`, as the image does;
// the bench builds it first with `npm run build`), or under tsx with `--runtime tsx`.
// Latencies are observed on watches by this process (one watch per collection).
// Run: npx tsx bench/operator/run.ts [--jobs 15000] [--pods 200] [--concurrency 16] [--pod-rate 0]
//        [--runtime compiled|tsx] [--no-build] [--cpu-prof DIR] [--log-level debug] [--log FILE]
//        [--status-coalesce-ms N]
// --jobs 0 skips the ingest phase. After the pods phase the bench prints the kube-apiserver's
// requests of that phase per pod, from the apiserver's own /metrics (a figure load does not move).
// --log FILE keeps the operator's log (otherwise it goes with the harness's run directory).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { packageRoot } from '../../runtime/package-root.js';
import { createDatabase, testEnv } from '../../test/env/index.js';
import { freePort } from '../../test/env/ports.js';
import { type ManagedProcess, spawnService, waitUntilReady } from '../../test/env/processes.js';
import { apiserverRequests, type RequestCounts, requestDelta, totalOf } from './apiserver-requests.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const JOBS = arg('jobs', 15_000);
const PODS = arg('pods', 200);
const CONCURRENCY = arg('concurrency', 16);
/** Job CRs per second in the pods phase (0: one after another as fast as the apiserver answers). */
const POD_RATE = arg('pod-rate', 0);
const RUNTIME = stringArg('runtime') ?? 'compiled';
const CPU_PROF = stringArg('cpu-prof');
if (RUNTIME !== 'compiled' && RUNTIME !== 'tsx') throw new Error('--runtime is compiled or tsx');

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

/** The operator's V8 heap in use (MiB), from its /metrics (prom-client's default metrics). */
async function heapMiB(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const bytes = Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
  return bytes / 1024 / 1024;
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
  /** Arrival rate: the i-th create is sent no sooner than i × intervalMs after the first (0: at once). */
  intervalMs = 0,
): Promise<Map<string, number>> {
  const sent = new Map<string, number>();
  let next = 0;
  const startedAt = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const index = next++;
      const body = bodies[index] as { metadata: { name: string } };
      const due = startedAt + index * intervalMs - performance.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
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

/**
 * The apiserver's request counts once the operator is done with the phase: sampled every 500 ms
 * until the writes stopped changing for 2 s (at most 30 s).
 */
async function settledRequests(access: Parameters<typeof apiserverRequests>[0]): Promise<RequestCounts> {
  const writes = (counts: RequestCounts) =>
    [...counts]
      .filter(([key]) => !key.startsWith('GET ') && !key.startsWith('LIST '))
      .reduce((s, [, n]) => s + n, 0);
  let last = await apiserverRequests(access);
  let stableSince = performance.now();
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await apiserverRequests(access);
    if (writes(now) !== writes(last)) stableSince = performance.now();
    last = now;
    if (performance.now() - stableSince >= 2_000) break;
  }
  return last;
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

async function main() {
  const root = packageRoot();
  if (RUNTIME === 'compiled' && !process.argv.includes('--no-build')) {
    console.log('building (npm run build) …');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const kube = await testEnv.kube();
  const client = await KubeClient.fromKubeconfig(kube.kubeconfig);
  await installCrds(client);
  const ns = `bench-operator-${Date.now().toString(36)}`;
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const databaseUrl = await createDatabase(await testEnv.postgres(), 'bench_operator');
  const healthPort = await freePort();
  const nodeArgs = [
    ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []),
    ...(RUNTIME === 'tsx'
      ? ['--import', 'tsx', join(root, 'cli', 'main.ts')]
      : [join(root, 'bin', 'kubeqa.js')]),
    'operator',
  ];
  const logPath = stringArg('log');
  const operator: ManagedProcess = spawnService('bench-operator', process.execPath, nodeArgs, {
    cwd: root,
    ...(logPath ? { logPath } : {}),
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
      KUBEQA_LOG_LEVEL: stringArg('log-level') ?? 'warn',
      POD_NAMESPACE: ns,
      ...(stringArg('status-coalesce-ms') !== undefined
        ? { KUBEQA_STATUS_COALESCE_MS: stringArg('status-coalesce-ms') }
        : {}),
    },
  });
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMiB(operator.pid));
    } catch {}
  }, 100);
  const loads: string[] = [`start ${load()}`];
  try {
    await waitUntilReady(operator, 'the operator', async () => {
      const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined);
      return res?.status === 200;
    });
    const idleRss = rssMiB(operator.pid);
    const jobsPath = `/apis/${KUBEQA_API_VERSION}/namespaces/${ns}/jobs`;
    const podsPath = `/api/v1/namespaces/${ns}/pods`;

    // 1: the N queued Jobs.
    let left = JOBS;
    let queuedAll!: () => void;
    const allQueued = new Promise<void>((resolve) => {
      queuedAll = resolve;
    });
    if (JOBS === 0) queuedAll();
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
    loads.push(`after creates ${load()}`);
    await allQueued;
    const ingestedIn = performance.now() - started;
    queued.stop();
    const latency = [...sent].map(([name, at]) => (queued.seen.get(name) ?? Number.NaN) - at);
    loads.push(`after ingest ${load()}`);
    const ingestPeakRss = peakRss;
    const queuedRss = rssMiB(operator.pid);
    const queuedHeap = await heapMiB(healthPort);
    console.log(`ingested ${JOBS} in ${fmt(ingestedIn)}; now the pods with free capacity …`);

    // 2: with the N still there, a pool with free capacity and M CRs for it, one after another.
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
    const pods = await watchCollection<{ metadata: { name: string } }>(
      client,
      podsPath,
      () => true,
      () => {
        if (--podsLeft === 0) podsDone();
      },
    );
    // The pool's slots are registered on its informer event; give the operator that moment
    // (wait for the Worker's status, which its reconciler writes) before the first CR.
    for (let i = 0; i < 600; i++) {
      const worker = await client.get<{ status?: unknown }>(
        `/apis/${KUBEQA_API_VERSION}/namespaces/${ns}/workers/bench`,
      );
      if (worker.status) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const podBodies = Array.from({ length: PODS }, (_, i) => jobBody(`pod-${i}`, 'bench_pods'));
    const requestsBefore = await apiserverRequests(kube);
    const podsStartedAt = performance.now();
    const podSent = await createAll(client, jobsPath, podBodies, 1, POD_RATE > 0 ? 1000 / POD_RATE : 0);
    const podsCreatedIn = performance.now() - podsStartedAt;
    await allPods;
    loads.push(`after pods ${load()}`);
    const podRequests = requestDelta(requestsBefore, await settledRequests(kube));
    const list = await client.get<{
      items: Array<{ metadata: { name: string }; status?: { jobId?: number } }>;
    }>(jobsPath);
    const jobIdOf = new Map<string, number>();
    for (const cr of list.items) if (cr.status?.jobId) jobIdOf.set(cr.metadata.name, cr.status.jobId);
    const podLatency: number[] = [];
    for (const [name, sentAt] of podSent) {
      const at = pods.seen.get(`kubeqa-job-${jobIdOf.get(name)}`);
      if (at !== undefined) podLatency.push(at - sentAt);
    }
    pods.stop();
    const finalRss = rssMiB(operator.pid);
    const finalHeap = await heapMiB(healthPort);

    const rows = [
      [
        'runtime',
        RUNTIME === 'tsx' ? 'tsx (node --import tsx cli/main.ts)' : 'compiled (node bin/kubeqa.js)',
      ],
      ['queued Job CRs', String(JOBS)],
      ['created by the client in', `${fmt(createdIn)} (${(JOBS / (createdIn / 1000)).toFixed(0)}/s)`],
      [
        'all queued (status written) after',
        `${fmt(ingestedIn)} (${(JOBS / (ingestedIn / 1000)).toFixed(0)}/s)`,
      ],
      [
        'create → queued p50 / p95 / max',
        `${[0.5, 0.95].map((q) => fmt(quantile(latency, q))).join(' / ')} / ${fmt(Math.max(...latency))}`,
      ],
      [
        'pods phase: Job CRs created in',
        `${fmt(podsCreatedIn)} (${(PODS / (podsCreatedIn / 1000)).toFixed(0)}/s${POD_RATE > 0 ? `, paced at ${POD_RATE}/s` : ', as fast as the apiserver answers'})`,
      ],
      [
        `create → pod created p50 / p95 (${PODS} free slots, ${JOBS} queued; target p95 ≤ 1 s)`,
        `${fmt(quantile(podLatency, 0.5))} / ${fmt(quantile(podLatency, 0.95))} (max ${fmt(Math.max(...podLatency))})`,
      ],
      [
        'operator RSS idle / with all queued / at the end',
        `${idleRss.toFixed(0)} / ${queuedRss.toFixed(0)} / ${finalRss.toFixed(0)} MiB`,
      ],
      [
        'operator V8 heap in use with all queued / at the end',
        `${queuedHeap.toFixed(0)} / ${finalHeap.toFixed(0)} MiB`,
      ],
      [
        `operator RSS peak during ingest / overall (target ≤ 300 MiB)`,
        `${ingestPeakRss.toFixed(0)} / ${peakRss.toFixed(0)} MiB`,
      ],
      ['load average (1/5/15 min)', loads.join('; ')],
    ];
    const width = Math.max(...rows.map((r) => (r[0] as string).length));
    for (const [label, value] of rows) console.log(`${(label as string).padEnd(width)}  ${value}`);
    console.log(
      `\napiserver requests of the pods phase (operator and bench; watches left out), per pod (${PODS}):`,
    );
    for (const [key, n] of [...podRequests].sort((a, b) => b[1] - a[1]))
      console.log(`  ${key.padEnd(40)} ${String(n).padStart(6)}  ${(n / PODS).toFixed(2)}`);
    const bench = PODS; // the bench's own POST jobs
    console.log(
      `  ${'total'.padEnd(40)} ${String(totalOf(podRequests)).padStart(6)}  ${(totalOf(podRequests) / PODS).toFixed(2)}` +
        `  (of which the bench's own Job creates: ${bench}; the operator's: ${((totalOf(podRequests) - bench) / PODS).toFixed(2)} per pod)`,
    );
  } finally {
    clearInterval(sampler);
    await operator.stop(30_000);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
