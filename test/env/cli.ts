// The test environment by hand:
//   npm run env -- up [service…]   start a background environment (all services by default)
//   npm run env -- status          what runs, where, since when
//   npm run env -- down            stop it and everything it started
//   npm run env -- serve [service…] the same environment in the foreground (Ctrl-C stops it)
//   npm run env -- build           build the pinned test servers into the cache
//   npm run env -- reap            kill processes left behind by crashed runs
// With KUBEQA_TESTENV_URL from `up` exported, test runs reuse that environment.
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allBinarySpecs, binary } from './binaries.js';
import { serveEnvironment, TestEnvironment } from './coordinator.js';
import { cacheDir } from './paths.js';
import { processStartTicks, reapStale } from './processes.js';
import { isServiceName, SERVICE_NAMES, type ServiceName } from './services/index.js';

const log = (line: string) => process.stderr.write(`[testenv] ${line}\n`);
const stateFile = () => join(cacheDir('testenv'), 'daemon.json');

interface DaemonState {
  url: string;
  pid: number;
  startTicks: number;
}

function readDaemon(): DaemonState | undefined {
  if (!existsSync(stateFile())) return undefined;
  try {
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as DaemonState;
    if (processStartTicks(state.pid) === state.startTicks) return state;
  } catch {
    // unreadable: treat as absent
  }
  rmSync(stateFile(), { force: true });
  return undefined;
}

function parseServices(args: string[]): ServiceName[] {
  if (args.length === 0) return SERVICE_NAMES;
  for (const name of args) {
    if (!isServiceName(name))
      throw new Error(`unknown service '${name}'; known: ${SERVICE_NAMES.join(', ')}`);
  }
  return args as ServiceName[];
}

async function call(url: string, method: string, path: string): Promise<unknown> {
  const response = await fetch(`${url}/${path}`, { method });
  const body = (await response.json()) as { error?: string };
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

async function serve(services: ServiceName[], writeState: boolean): Promise<void> {
  const reaped = reapStale();
  if (reaped.length > 0) log(`killed processes left by an earlier run: ${reaped.join(', ')}`);
  const env = new TestEnvironment(log);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping');
    await env.stopAll();
    if (writeState) rmSync(stateFile(), { force: true });
    process.exit(0);
  };
  const server = await serveEnvironment(env, () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  if (writeState) {
    const state: DaemonState = {
      url: server.url,
      pid: process.pid,
      startTicks: processStartTicks(process.pid) ?? 0,
    };
    writeFileSync(stateFile(), JSON.stringify(state));
  }
  process.stdout.write(`export KUBEQA_TESTENV_URL=${server.url}\n`);
  for (const name of services) {
    try {
      await env.get(name);
    } catch {
      // logged by the environment; status shows it
    }
  }
}

async function up(services: ServiceName[]): Promise<void> {
  let state = readDaemon();
  if (!state) {
    const logPath = join(cacheDir('testenv'), 'daemon.log');
    const out = openSync(logPath, 'a');
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'daemon'], {
      detached: true,
      stdio: ['ignore', out, out],
    });
    child.unref();
    log(`environment daemon started (pid ${child.pid}, log ${logPath})`);
    const deadline = Date.now() + 30_000;
    while (!state && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = readDaemon();
    }
    if (!state) throw new Error(`the environment daemon did not start; see ${logPath}`);
  }
  const details: Record<string, unknown> = {};
  for (const name of services) {
    log(`starting ${name}…`);
    details[name] = await call(state.url, 'POST', `services/${name}`).catch((error: Error) => ({
      error: error.message,
    }));
  }
  process.stdout.write(`${JSON.stringify(details, null, 2)}\n`);
  process.stdout.write(`\nexport KUBEQA_TESTENV_URL=${state.url}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command = 'status', ...rest] = argv;
  switch (command) {
    case 'up':
      return up(parseServices(rest));
    case 'daemon':
      return serve([], true);
    case 'serve':
      return serve(parseServices(rest), false);
    case 'status': {
      const state = readDaemon();
      if (!state) {
        process.stdout.write('no environment is running (start one with: npm run env -- up)\n');
        return;
      }
      process.stdout.write(
        `${JSON.stringify({ url: state.url, pid: state.pid, ...((await call(state.url, 'GET', 'status')) as object) }, null, 2)}\n`,
      );
      return;
    }
    case 'down': {
      const state = readDaemon();
      if (!state) {
        process.stdout.write('no environment is running\n');
        return;
      }
      await call(state.url, 'POST', 'shutdown');
      process.stdout.write(`stopped the environment (pid ${state.pid})\n`);
      return;
    }
    case 'build':
      for (const spec of allBinarySpecs) log(`${spec.name} ${spec.version}: ${await binary(spec, log)}`);
      return;
    case 'reap': {
      const reaped = reapStale();
      process.stdout.write(reaped.length ? `killed: ${reaped.join(', ')}\n` : 'nothing to reap\n');
      return;
    }
    default:
      throw new Error(`unknown command '${command}'; use up, down, status, serve, build or reap`);
  }
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
