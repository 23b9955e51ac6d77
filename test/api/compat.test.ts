// openQA's own clients, unmodified, against kubeqa: the Python `openqa-client` from PyPI and the
// Perl `openqa-cli` from Debian. They sign requests their way (float timestamps, `+` for spaces,
// form bodies) and expect openQA's response shapes.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheRoot } from '../env/paths.js';
import { requireCommand } from '../env/system.js';
import { type Json, seedTemplates, startServer, type TestServer } from './server.js';

const run = promisify(execFile);
let s: TestServer;
let home: string;
let hostPort: string;

function python(): string {
  const path = join(cacheRoot(), 'python', 'bin', 'python');
  if (!existsSync(path)) {
    throw new Error(
      `openQA's Python client is not installed (looked for ${path}).\nInstall it with:\n  ./scripts/setup.sh`,
    );
  }
  return path;
}

/** Runs a Python snippet with `client` (an OpenQA_Client for our server) and prints its JSON. */
async function py(code: string): Promise<Json> {
  const script = `import json, sys\nfrom openqa_client.client import OpenQA_Client\nclient = OpenQA_Client(server=${JSON.stringify(hostPort)}, scheme='http', retries=0)\n${code}`;
  const { stdout } = await run(python(), ['-c', script], {
    env: { ...process.env, HOME: home },
    timeout: 60_000,
  });
  return JSON.parse(stdout);
}

async function cli(args: string[]): Promise<Json> {
  const bin = requireCommand('openqa-cli', ['openqa-client']);
  const { stdout } = await run(
    bin,
    ['api', '--host', `http://${hostPort}`, '--apikey', s.key, '--apisecret', s.secret, ...args],
    {
      env: { ...process.env, HOME: home },
      timeout: 60_000,
    },
  );
  return JSON.parse(stdout);
}

beforeAll(async () => {
  s = await startServer('api_compat');
  hostPort = new URL(s.url).host;
  home = mkdtempSync(join(tmpdir(), 'kubeqa-compat-home-'));
  mkdirSync(join(home, '.config', 'openqa'), { recursive: true });
  writeFileSync(
    join(home, '.config', 'openqa', 'client.conf'),
    `[${hostPort}]\nkey = ${s.key}\nsecret = ${s.secret}\n`,
  );
  await s.api('POST', 'machines', { name: '64bit', backend: 'qemu' });
  await s.api('POST', 'products', { distri: 'debian', version: '12', flavor: 'netinst', arch: 'x86_64' });
  await s.api('POST', 'test_suites', { name: 'install' });
  await s.api('POST', 'test_suites', { name: 'desktop', 'settings[START_AFTER_TEST]': 'install' });
  await seedTemplates(
    s,
    `defaults:
  x86_64: { machine: 64bit, priority: 50 }
products:
  debian-12-netinst-x86_64: { distri: debian, flavor: netinst, version: '12' }
scenarios:
  x86_64:
    debian-12-netinst-x86_64: [install, desktop]
`,
  );
});
afterAll(async () => {
  await s?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("openQA's Python client (PyPI openqa-client)", () => {
  it('posts isos, lists jobs, cancels and restarts', async () => {
    const posted = await py(
      "print(json.dumps(client.openqa_request('POST', 'isos', {'DISTRI': 'debian', 'VERSION': '12', 'FLAVOR': 'netinst', 'ARCH': 'x86_64', 'BUILD': 'py 1~a', 'ISO': 'debian 12.iso'})))",
    );
    expect(posted.count).toBe(2);
    expect(posted.failed_job_info).toEqual([]);
    const [first, second] = posted.ids as number[];
    const listed = await py("print(json.dumps(client.openqa_request('GET', 'jobs', {'build': 'py 1~a'})))");
    expect(listed.jobs.map((j: Json) => j.id).sort()).toEqual([first, second].sort());
    expect(listed.jobs[0].settings.ISO).toBe('debian 12.iso');
    const viaHelper = await py("print(json.dumps([j['id'] for j in client.get_jobs(build='py 1~a')]))");
    expect(viaHelper.sort()).toEqual([first, second].sort());
    const cancelled = await py(`print(json.dumps(client.openqa_request('POST', 'jobs/${second}/cancel')))`);
    expect(cancelled).toEqual({ result: 1 });
    const restarted = await py(`print(json.dumps(client.openqa_request('POST', 'jobs/${second}/restart')))`);
    const newId = Object.assign({}, ...restarted.result)[String(second)];
    // its parent has not finished: it is kept, not restarted
    expect(restarted.result).toHaveLength(1);
    expect(newId).toBeGreaterThan(second as number);
    const job = await py(`print(json.dumps(client.openqa_request('GET', 'jobs/${newId}')))`);
    expect(job.job).toMatchObject({ state: 'scheduled', test: 'desktop' });
  });

  it('gets an error it can read for a wrong secret', async () => {
    const out = await py(
      "client.apisecret = 'WRONGWRONGWRONG0'\nfrom openqa_client.exceptions import RequestError\ntry:\n    client.openqa_request('POST', 'isos', {'DISTRI': 'x'})\nexcept RequestError as e:\n    print(json.dumps({'status': e.status_code, 'text': e.text}))",
    );
    expect(out.status).toBe(403);
    expect(JSON.parse(out.text)).toMatchObject({
      error_status: 403,
      error: 'invalid API-key signature for this path',
    });
  });
});

describe("openQA's Perl client (Debian openqa-cli)", () => {
  it('posts isos as a form and lists jobs', async () => {
    const posted = await cli([
      '-X',
      'POST',
      'isos',
      'DISTRI=debian',
      'VERSION=12',
      'FLAVOR=netinst',
      'ARCH=x86_64',
      'BUILD=perl 1',
      'ISO=a b.iso',
    ]);
    expect(posted.count).toBe(2);
    const listed = await cli(['jobs', 'build=perl 1']);
    expect(listed.jobs.map((j: Json) => j.id).sort()).toEqual([...posted.ids].sort());
    const all = await cli(['jobs']);
    expect(all.jobs.length).toBeGreaterThanOrEqual(4);
    const one = await cli([`jobs/${posted.ids[0]}`]);
    expect(one.job.settings.ISO).toBe('a b.iso');
    const prio = await cli(['-X', 'POST', `jobs/${posted.ids[0]}/prio`, 'prio=7']);
    expect(prio).toEqual({ result: 1 });
  });
});
