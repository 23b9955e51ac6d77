// `kubeqa up` as a user runs it: a real process, a real port, data kept between runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../domain/auth/hmac.js';
import { kubeqaCli } from '../helpers/kubeqa-cli.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kubeqa-up-test-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function kubeqa(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function startUp(): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const child = kubeqa(['up', '--port', '0', '--data-dir', dataDir]);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^kubeqa is up: (\S+)$/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`kubeqa up exited (${code}) before it was up:\n${stderr}`)),
    );
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

const run = (args: string[]) => kubeqaCli(args);

describe('kubeqa up', () => {
  it('serves health with the embedded database and keeps its data across restarts', async () => {
    const first = await startUp();
    const health = (await (await fetch(`${first.url}/healthz`)).json()) as {
      status: string;
      database: string;
      instanceId: string;
    };
    expect(health).toMatchObject({ status: 'ok', database: 'pglite' });
    expect(health.instanceId).toMatch(/^[0-9a-f-]{36}$/);
    const page = await (await fetch(first.url)).text();
    // the web UI is served at the root
    expect(page).toContain('<title>kubeqa</title>');
    expect(page).toContain('href="/tests"');
    // The API answers, signed with the admin key written to client.conf (openQA's format).
    const conf = readFileSync(join(dataDir, 'client.conf'), 'utf8');
    const key = /key = (\S+)/.exec(conf)?.[1];
    const secret = /secret = (\S+)/.exec(conf)?.[1];
    expect(key).toMatch(/^[0-9A-F]{16}$/i);
    expect((await fetch(`${first.url}/api/v1/jobs`)).status).toBe(200);
    const pathQuery = '/api/v1/machines?name=not-the-demo&backend=qemu';
    const signed = await fetch(`${first.url}${pathQuery}`, {
      method: 'POST',
      headers: signRequest(key!, secret!, pathQuery),
    });
    const unsigned = await fetch(`${first.url}/api/v1/machines?name=other&backend=qemu`, { method: 'POST' });
    expect(unsigned.status).toBe(403);
    expect(signed.status).toBeLessThan(300);
    expect(await first.stop()).toBe(0);

    const second = await startUp();
    const again = (await (await fetch(`${second.url}/healthz`)).json()) as { instanceId: string };
    expect(again.instanceId).toBe(health.instanceId);
    expect(await second.stop()).toBe(0);
  });

  it('rejects a bad port with a coded error', async () => {
    const result = await run(['up', '--port', 'eighty']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('KQ_ERR_INVALID_ARGUMENT');
    expect(result.stderr).toContain("--port must be a number from 0 to 65535, got 'eighty'");
  });
});

describe('kubeqa', () => {
  it('prints its version and usage, and refuses unknown commands', async () => {
    expect((await run(['--version'])).stdout).toMatch(/^kubeqa \d+\.\d+\.\d+/);
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(unknown.stderr).toContain('usage: kubeqa');
  });
});
