// vitest globalSetup: reap what crashed runs left, then serve one lazily-started environment to
// every test file of this run (unless KUBEQA_TESTENV_URL points at one started by `npm run env`).
import { allBinarySpecs, binary } from './binaries.js';
import { serveEnvironment, TestEnvironment } from './coordinator.js';
import { reapStale } from './processes.js';

const log = (line: string) => process.stderr.write(`[testenv] ${line}\n`);

export default async function setup(): Promise<() => Promise<void>> {
  const reaped = reapStale();
  if (reaped.length > 0) log(`killed processes left by an earlier run: ${reaped.join(', ')}`);
  if (process.env.KUBEQA_TESTENV_URL) {
    log(`using the environment at ${process.env.KUBEQA_TESTENV_URL.replace(/\/[0-9a-f]+$/, '/…')}`);
    return async () => {};
  }
  // Build the pinned test servers before any test starts (a no-op when cached), so no test's
  // own timeout has to cover a cold build.
  for (const spec of allBinarySpecs) await binary(spec, log);
  const env = new TestEnvironment(log);
  const server = await serveEnvironment(env);
  process.env.KUBEQA_TESTENV_URL = server.url;
  return async () => {
    await env.stopAll();
    await server.close();
    delete process.env.KUBEQA_TESTENV_URL;
  };
}
