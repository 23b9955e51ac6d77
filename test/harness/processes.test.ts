// The harness's promise: nothing it starts outlives the run, even when the run is killed.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { runStateRoot } from '../env/paths.js';
import { processStartTicks, reapStale } from '../env/processes.js';
import { waitUntil } from '../helpers/wait-until.js';

const TSX = ['--import', 'tsx'];

/** Resolve when the process is gone (checked in /proc every 50 ms); reject after timeoutMs. */
async function gone(pid: number, timeoutMs = 15_000): Promise<void> {
  if (!(await waitUntil(() => processStartTicks(pid) === undefined, timeoutMs, 50)))
    throw new Error(`process ${pid} is still alive after ${timeoutMs} ms`);
}

function firstLine(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) resolve(match);
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${pattern}`)));
  });
}

describe('process supervision', () => {
  it('kills a service when the process that started it is killed with SIGKILL', async () => {
    const script = `
      import { spawnService } from './test/env/processes.ts';
      const p = spawnService('sleeper', 'sleep', ['300']);
      console.log('PID ' + p.pid);
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, [...TSX, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [, pid] = await firstLine(parent, /^PID (\d+)$/);
    expect(processStartTicks(Number(pid))).toBeDefined();
    parent.kill('SIGKILL');
    await gone(Number(pid));
  });

  it('reaps processes recorded by a dead run, and only those', async () => {
    // A "crashed run": its owner is a process that has exited; it left a sleeper behind.
    const owner = spawn('true');
    await new Promise((resolve) => owner.once('exit', resolve));
    const orphan = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    const innocent = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    orphan.unref();
    innocent.unref();
    const boot = (await import('node:fs')).readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const dir = join(runStateRoot(), `crashed-${owner.pid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid: owner.pid, startTicks: 1, bootId: boot }));
    writeFileSync(
      join(dir, `sleeper-${orphan.pid}.pid`),
      JSON.stringify({
        pid: orphan.pid,
        startTicks: processStartTicks(orphan.pid!),
        bootId: boot,
        name: 'sleeper',
        command: 'sleep 300',
      }),
    );
    // A stale record whose PID now belongs to another process (wrong start time) must be left alone.
    writeFileSync(
      join(dir, `reused-${innocent.pid}.pid`),
      JSON.stringify({
        pid: innocent.pid,
        startTicks: 12345,
        bootId: boot,
        name: 'reused',
        command: 'sleep 300',
      }),
    );
    const reaped = reapStale();
    expect(reaped).toContain(`sleeper (pid ${orphan.pid})`);
    expect(reaped.join()).not.toContain(String(innocent.pid));
    await gone(orphan.pid!);
    expect(processStartTicks(innocent.pid!)).toBeDefined();
    innocent.kill('SIGKILL');
  });

  it('leaves no PostgreSQL behind when the environment process is killed mid-run', async () => {
    const env = spawn(process.execPath, [...TSX, 'test/env/cli.ts', 'serve', 'postgres'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [, url] = await firstLine(env, /^export KUBEQA_TESTENV_URL=(\S+)$/);
    // Ask for the service (the first request starts it) and read its PIDs from the status.
    const started = await fetch(`${url}/services/postgres`, { method: 'POST' });
    expect(started.ok).toBe(true);
    const status = (await (await fetch(`${url}/status`)).json()) as {
      services: { postgres: { pids: number[] } };
    };
    const [postmaster] = status.services.postgres.pids;
    expect(postmaster).toBeGreaterThan(0);
    expect(processStartTicks(postmaster!)).toBeDefined();
    env.kill('SIGKILL');
    await gone(postmaster!);
  });
});
