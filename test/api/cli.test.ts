// `kubeqa api` as a user runs it: a real process, keys from client.conf (kubeqa's or openQA's).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFiles, credentialsFor, parseClientConf } from '../../cli/commands/api.js';
import { startServer, type TestServer } from './server.js';

let s: TestServer;
let home: string;
beforeAll(async () => {
  s = await startServer('api_cli');
  home = mkdtempSync(join(tmpdir(), 'kubeqa-cli-home-'));
});
afterAll(async () => {
  await s?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

function kubeqa(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: '', OPENQA_CONFIG: '', ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('kubeqa api', () => {
  it('parses client.conf sections by host', () => {
    const conf = parseClientConf(
      '# c\n[localhost:9526]\nkey = K1\nsecret = S1\n\n[example.org]\nkey=K2\nsecret=S2\n',
    );
    expect(conf.get('localhost:9526')).toEqual({ key: 'K1', secret: 'S1' });
    const file = join(home, 'x.conf');
    writeFileSync(file, '[example.org]\nkey=K2\nsecret=S2\n');
    expect(credentialsFor(new URL('https://example.org'), [file])).toEqual({ key: 'K2', secret: 'S2' });
    expect(credentialsFor(new URL('https://other.org'), [file])).toBeUndefined();
  });

  it('looks last in the client.conf that kubeqa up writes into its data directory', () => {
    const files = configFiles({ KUBEQA_HOME: join(home, 'data') }, home);
    expect(files.at(-1)).toBe(join(home, 'data', 'client.conf'));
    expect(files[0]).toBe(join(home, '.config', 'kubeqa', 'client.conf'));
  });

  it('sends signed requests with keys from openQA client.conf and from kubeqa client.conf', async () => {
    const host = new URL(s.url).host;
    mkdirSync(join(home, '.config', 'openqa'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'openqa', 'client.conf'),
      `[${host}]\nkey = ${s.key}\nsecret = ${s.secret}\n`,
    );
    const created = await kubeqa([
      'api',
      '--host',
      s.url,
      '-X',
      'POST',
      'jobs',
      'TEST=cli job',
      'WORKER_CLASS=a',
      'WORKER_CLASS=b',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const id = JSON.parse(created.stdout).id as number;
    rmSync(join(home, '.config', 'openqa'), { recursive: true });
    mkdirSync(join(home, '.config', 'kubeqa'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'kubeqa', 'client.conf'),
      `[${host}]\nkey = ${s.key}\nsecret = ${s.secret}\n`,
    );
    const got = await kubeqa(['api', '--host', s.url, '--pretty', `jobs/${id}`]);
    const job = JSON.parse(got.stdout).job;
    expect(job.settings).toMatchObject({ TEST: 'cli job', WORKER_CLASS: 'a,b' });
    expect(got.stdout).toContain('\n  "job": {');
    const cancelled = await kubeqa(['api', '--host', s.url, '-X', 'POST', `jobs/${id}/cancel`]);
    expect(JSON.parse(cancelled.stdout)).toEqual({ result: 1 });
  });

  it('exits 1 with the error body on a refused request, and 1 with a coded error for bad input', async () => {
    const refused = await kubeqa([
      'api',
      '--host',
      s.url,
      '--apikey',
      'NOPE',
      '--apisecret',
      'NOPE',
      '-X',
      'POST',
      'jobs',
      'TEST=x',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('403');
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: 'unknown API key', error_status: 403 });
    const bad = await kubeqa(['api', '--host', s.url, '-X', 'POST', 'jobs', 'notaparam']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("KQ_ERR_INVALID_ARGUMENT: parameter 'notaparam' is not KEY=VALUE");
  });
});
