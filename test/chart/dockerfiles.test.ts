// The two Dockerfiles cannot be built on this machine (no Docker daemon), so they are checked by
// construction: hadolint finds nothing, every stage is pinned and multi-stage, the final stages
// run as the non-root users the chart expects, carry no build tools, and copy only files that
// exist and that .dockerignore lets through.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../runtime/package-root.js';
import { CHART_DIR, findObject, renderChart } from './chart.js';
import { HADOLINT_VERSION, hadolint } from './hadolint.js';

const execFileAsync = promisify(execFile);
const ROOT = packageRoot();

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of a Dockerfile (continuation lines joined, comments dropped), split by stage. */
function stages(path: string): Instruction[][] {
  const text = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const out: Instruction[][] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const instruction = { op: match[1]!, args: match[2]!.trim() };
    if (instruction.op === 'FROM') out.push([]);
    if (out.length === 0) out.push([]); // global ARGs before the first FROM
    out[out.length - 1]!.push(instruction);
  }
  return out;
}

function argDefault(path: string, name: string): string {
  const match = new RegExp(`^ARG ${name}=(\\S+)`, 'm').exec(readFileSync(path, 'utf8'));
  if (!match) throw new Error(`${path} has no ARG ${name}=…`);
  return match[1]!;
}

const SERVER = join(ROOT, 'Dockerfile');
const WORKER = join(ROOT, 'worker-image', 'Dockerfile');
const BUILD_TOOLS = /\b(build-essential|gcc|g\+\+|make|python3|pkg-config|[a-z0-9.-]+-dev)\b/;

describe.each([
  { name: 'operator + web UI image', file: SERVER },
  { name: 'worker image', file: WORKER },
])('$name', ({ file }) => {
  it(`passes hadolint ${HADOLINT_VERSION}`, async () => {
    const bin = await hadolint();
    const result = await execFileAsync(bin, ['--no-color', file]).catch(
      (error: { stdout?: string; code?: number }) => ({
        stdout: error.stdout ?? String(error),
        code: error.code,
      }),
    );
    expect(result.stdout).toBe('');
  });

  it('is multi-stage with pinned base images and no build tools in the final stage', () => {
    const all = stages(file);
    const froms = all.flatMap((s) => s.filter((i) => i.op === 'FROM'));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const nodeImage = argDefault(file, 'NODE_IMAGE');
    expect(nodeImage).toMatch(/^docker\.io\/library\/node:22\.\d+\.\d+-bookworm-slim$/);
    for (const from of froms) {
      expect(from.args).not.toMatch(/:latest\b/);
      expect(from.args).toMatch(/^\$\{NODE_IMAGE\}/);
    }
    const final = all[all.length - 1]!;
    const installs = final.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args)).map((i) => i.args);
    for (const run of installs) {
      const packages = /apt-get install[^&]*/.exec(run)![0];
      expect(packages).not.toMatch(BUILD_TOOLS);
    }
    // The final stage takes only the build output; npm itself is removed.
    expect(final.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))).toBe(true);
    expect(final.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args))).toBe(false);
    expect(
      final.some((i) => i.op === 'RUN' && /rm -rf \/usr\/local\/lib\/node_modules\/npm/.test(i.args)),
    ).toBe(true);
  });

  it('runs as a numeric non-root user, with an entrypoint and a HEALTHCHECK decision', () => {
    const final = stages(file).at(-1)!;
    const users = final.filter((i) => i.op === 'USER');
    expect(users).toHaveLength(1);
    const uid = users[0]!.args.replace(/\$\{KUBEQA_UID\}/g, argDefault(file, 'KUBEQA_UID'));
    expect(uid).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(final.some((i) => i.op === 'ENTRYPOINT' && i.args.includes('/usr/bin/tini'))).toBe(true);
    expect(final.some((i) => i.op === 'HEALTHCHECK')).toBe(true);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
    const copies = stages(file)
      .flat()
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copies.length).toBeGreaterThanOrEqual(3);
    for (const source of copies) {
      expect(existsSync(join(ROOT, source)), `${source} is missing`).toBe(true);
      expect(ignored, `${source} is excluded by .dockerignore`).not.toContain(source);
    }
    // `COPY . .` sends what .dockerignore lets through: the build's inputs must be in it, and
    // node_modules, dist and .git must not.
    const excluded = (path: string) => ignored.some((p) => p === path || p === path.split('/')[0]);
    const tsInputs = (
      JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
    ).include;
    for (const input of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'bin',
      'crds',
    ])
      expect(excluded(input), `${input} is excluded by .dockerignore`).toBe(false);
    for (const input of tsInputs)
      expect(excluded(input), `${input} is excluded by .dockerignore`).toBe(false);
    expect(excluded('domain/db/migrations')).toBe(false);
    for (const heavy of ['node_modules', 'dist', '.git', 'test']) expect(excluded(heavy)).toBe(true);
    // What the runtime needs at the package root (runtime/package-root.ts, db/migrate.ts, crds.ts).
    const build = readFileSync(file, 'utf8');
    for (const needed of ['package.json', 'tsconfig.build.json', 'dist', 'crds', 'domain/db/migrations'])
      expect(build).toContain(needed);
  });
});

describe('hadolint', () => {
  it('reports what it should (a control: latest tag, unpinned apt, root user)', async () => {
    const bin = await hadolint();
    const bad = join(mkdtempSync(join(tmpdir(), 'kubeqa-hadolint-')), 'Dockerfile');
    writeFileSync(bad, 'FROM debian:latest\nRUN apt-get update && apt-get install curl\n');
    const result = await execFileAsync(bin, ['--no-color', bad]).then(
      () => ({ stdout: '', code: 0 }),
      (error: { stdout?: string; code?: number }) => ({ stdout: error.stdout ?? '', code: error.code }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain('DL3007'); // latest
    expect(result.stdout).toContain('DL3014'); // apt-get install without -y
  });
});

describe('the images and the chart agree', () => {
  it('the worker image has QEMU, OVMF, the OpenCV runtime and a user in the kvm group the chart expects', async () => {
    const final = stages(WORKER).at(-1)!;
    const run = final.find((i) => i.op === 'RUN' && /apt-get install/.test(i.args))!.args;
    for (const pkg of [
      'qemu-system-x86',
      'qemu-utils',
      'ovmf',
      'libopencv-imgproc406',
      'libopencv-imgcodecs406',
    ])
      expect(run).toContain(pkg);
    expect(run).toMatch(/useradd [^&]*--groups kvm/);
    const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
      jobs: { kvmGroupId: number; runAsUser: number };
    };
    expect(Number(argDefault(WORKER, 'KVM_GID'))).toBe(values.jobs.kvmGroupId);
    expect(Number(argDefault(WORKER, 'KUBEQA_UID'))).toBe(values.jobs.runAsUser);
  });

  it('the chart runs the server image as the image’s user and names both images by value', async () => {
    const objects = await renderChart({
      set: ['image.tag=1.2.3', 'runnerImage.registry=', 'runnerImage.repository=r/w'],
    });
    const deployment = findObject(objects, 'Deployment', 'kubeqa-operator');
    const pod = (
      deployment.spec as {
        template: { spec: { securityContext: { runAsUser: number }; containers: Array<{ image: string }> } };
      }
    ).template.spec;
    expect(pod.securityContext.runAsUser).toBe(Number(argDefault(SERVER, 'KUBEQA_UID')));
    expect(pod.containers[0]?.image).toBe('ghcr.io/kubeqa/kubeqa:1.2.3');
    const config = findObject(objects, 'ConfigMap', 'kubeqa-operator').data as Record<string, string>;
    expect(config.KUBEQA_RUNNER_IMAGE).toBe('r/w:0.1.0');
    const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as {
      appVersion: string;
      annotations: Record<string, string>;
    };
    const listed = parse(chart.annotations['artifacthub.io/images']!) as Array<{ image: string }>;
    expect(listed.map((i) => i.image)).toContain(`ghcr.io/kubeqa/kubeqa:${chart.appVersion}`);
    expect(listed.map((i) => i.image)).toContain(`ghcr.io/kubeqa/kubeqa-worker:${chart.appVersion}`);
  });
});
