// The embedded default end to end, as a user meets it: `kubeqa up` from a fresh data directory
// (a real child process), openQA's Python client (PyPI openqa-client, unmodified) posts the demo
// build with the client.conf kubeqa up wrote, the scheduler assigns the jobs to the local
// executor, runner children boot the busybox guest and the Debian installer under TCG, and
// both jobs pass; their modules, steps and result files are served by the API. After kubeqa up
// stopped, the audit of every job's recorded state changes shows legal transitions only, each
// job ending in a final state.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../db/connect.js';
import { auditTransitions } from '../../domain/jobs/state-machine.js';
import { timeoutScaleFor } from '../../worker-image/qemu/accelerator.js';
import type { Json } from '../api/server.js';
import { testEnv } from '../env/index.js';
import { cacheRoot } from '../env/paths.js';
import { recordedTransitions } from '../helpers/jobs.js';
import { waitUntil } from '../helpers/wait-until.js';

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'kubeqa-e2e-up-'));
const home = mkdtempSync(join(tmpdir(), 'kubeqa-e2e-home-'));
let child: ChildProcess | undefined;
let output = '';
let url = '';
let accel: 'kvm' | 'tcg' = 'tcg';

function python(): string {
  const path = join(cacheRoot(), 'python', 'bin', 'python');
  if (!existsSync(path))
    throw new Error(
      `openQA's Python client is not installed (looked for ${path}).\nInstall it with:\n  ./scripts/setup.sh`,
    );
  return path;
}

/** openQA's Python client against kubeqa up, keys from the client.conf kubeqa up wrote. */
async function py(code: string): Promise<Json> {
  const host = new URL(url).host;
  const script = `import json\nfrom openqa_client.client import OpenQA_Client\nclient = OpenQA_Client(server=${JSON.stringify(host)}, scheme='http', retries=0)\n${code}`;
  const { stdout } = await run(python(), ['-c', script], {
    env: { ...process.env, HOME: home },
    timeout: 60_000,
  });
  return JSON.parse(stdout);
}

async function getJson(path: string): Promise<Json> {
  return (await fetch(`${url}/api/v1/${path}`)).json();
}

beforeAll(async () => {
  // the accelerator check and the guest packages, with their install hints
  accel = (await testEnv.qemu()).accel;
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'cli/main.ts', 'up', '--port', '0', '--data-dir', dataDir, '--slots', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child?.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output += `${line}\n`;
      const match = /^kubeqa is up: (\S+)$/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
    child?.once('exit', (code) =>
      reject(new Error(`kubeqa up exited (${code}) before it was up:\n${output}`)),
    );
  });
  mkdirSync(join(home, '.config', 'openqa'), { recursive: true });
  copyFileSync(join(dataDir, 'client.conf'), join(home, '.config', 'openqa', 'client.conf'));
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('kubeqa up end to end', () => {
  const ids: Record<string, number> = {};

  it("runs the demo build posted with openQA's Python client; both jobs pass", async () => {
    expect(output).toMatch(/API key: [0-9A-F]{16}/);
    const busybox = await py(
      "print(json.dumps(client.openqa_request('POST', 'isos', {'DISTRI': 'busybox', 'VERSION': '1', 'FLAVOR': 'initramfs', 'ARCH': 'x86_64', 'BUILD': 'e2e'})))",
    );
    const installer = await py(
      "print(json.dumps(client.openqa_request('POST', 'isos', {'DISTRI': 'debian-installer', 'VERSION': '12', 'FLAVOR': 'netboot', 'ARCH': 'x86_64', 'BUILD': 'e2e'})))",
    );
    expect(busybox.count, JSON.stringify(busybox)).toBe(1);
    expect(installer.count, JSON.stringify(installer)).toBe(1);
    ids.busybox = busybox.ids[0];
    ids.installer = installer.ids[0];
    // the demo machine's timeouts follow this host's accelerator (TCG: 3, KVM: 1)
    expect((await getJson(`jobs/${ids.busybox}`)).job.settings.TIMEOUT_SCALE).toBe(
      String(timeoutScaleFor(accel)),
    );

    const done = async (id: number) =>
      ['done', 'cancelled'].includes((await getJson(`jobs/${id}`)).job.state);
    const finished = await waitUntil(
      async () => (await done(ids.busybox as number)) && (await done(ids.installer as number)),
      900_000,
      1000,
    );
    const jobs = await py(`print(json.dumps(client.openqa_request('GET', 'jobs', {'build': 'e2e'})))`);
    const summary = jobs.jobs.map((j: Json) => [j.test, j.state, j.result, j.reason]);
    expect(finished, `${JSON.stringify(summary)}\n${output.slice(-3000)}`).toBe(true);
    expect(summary.map((s: Json[]) => s.slice(0, 3)).sort()).toEqual([
      ['busybox', 'done', 'passed'],
      ['installer', 'done', 'passed'],
    ]);
  }, 1_000_000);

  it('serves their modules, steps and result files through the API', async () => {
    const busybox = (await getJson(`jobs/${ids.busybox}/details`)).job;
    expect(busybox.testresults.map((m: Json) => [m.name, m.result])).toEqual([
      ['boot_to_shell', 'passed'],
      ['commands', 'passed'],
      ['poweroff', 'passed'],
    ]);
    const screenshot = busybox.testresults[1].details.find((d: Json) => d.type === 'screen')?.screenshot;
    expect(screenshot).toMatch(/^[0-9a-f]{64}$/);
    const serial = await fetch(`${url}/api/v1/jobs/${ids.busybox}/artefacts/serial0.txt`);
    expect(serial.status).toBe(200);
    expect(await serial.text()).toContain('typed-42');
    const video = await fetch(`${url}/api/v1/jobs/${ids.busybox}/artefacts/video.webm`);
    expect(video.headers.get('content-type')).toBe('video/webm');

    const installer = (await getJson(`jobs/${ids.installer}/details`)).job;
    expect(installer.testresults.map((m: Json) => [m.name, m.result])).toEqual([
      ['language', 'passed'],
      ['location', 'passed'],
      ['keyboard', 'passed'],
      ['hostname', 'passed'],
      ['domain', 'passed'],
    ]);
    const matched = installer.testresults[2].details.find((d: Json) => d.needle);
    expect(matched.needle).toMatch(/^installer-keyboard/);
    const resultFile: Json = await (
      await fetch(`${url}/api/v1/jobs/${ids.installer}/artefacts/testresults/result-keyboard.json`)
    ).json();
    const shot = resultFile.details.find((d: Json) => d.needle)?.screenshot;
    const png = await fetch(`${url}/api/v1/jobs/${ids.installer}/artefacts/testresults/${shot}`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await png.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    const log = await fetch(`${url}/api/v1/jobs/${ids.installer}/artefacts/autoinst-log.txt`);
    expect(await log.text()).toMatch(/result: passed/);
  });

  it('recorded legal transitions only, every job ending final', async () => {
    const exited = new Promise<number | null>((resolve) => child?.once('exit', resolve));
    child?.kill('SIGTERM');
    expect(await exited).toBe(0);
    const database = await openPglite(join(dataDir, 'db'));
    try {
      const records = await recordedTransitions(database);
      const report = auditTransitions(records, { requireFinal: true });
      expect(report.violations).toEqual([]);
      expect(report.ok).toBe(true);
      expect([...report.last.keys()].sort()).toEqual([ids.busybox, ids.installer].sort());
      const busyboxPath = records.filter((r) => r.jobId === ids.busybox).map((r) => r.to.state);
      expect(busyboxPath).toEqual(['assigned', 'setup', 'running', 'uploading', 'done']);
    } finally {
      await database.close();
    }
  });
});
