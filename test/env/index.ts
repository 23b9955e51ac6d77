// What tests import: `await testEnv.postgres()` and friends. Each call returns the connection
// details of a real service, started on first use and shared by the whole run.
import { request } from 'node:http';
import { TestEnvironment } from './coordinator.js';
import type { ServiceInfoMap, ServiceName } from './services/index.js';

export type { ServiceInfoMap, ServiceName } from './services/index.js';
export { createDatabase } from './services/postgres.js';

let local: TestEnvironment | undefined;

function postJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { error?: string };
          if ((res.statusCode ?? 500) >= 400) reject(new Error(parsed.error ?? body));
          else resolve(parsed);
        } catch {
          reject(new Error(`test environment answered ${res.statusCode}: ${body.slice(0, 500)}`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The details of a service, starting it through the run's environment (or in this process). */
export async function service<K extends ServiceName>(name: K): Promise<ServiceInfoMap[K]> {
  const url = process.env.KUBEQA_TESTENV_URL;
  if (url) return (await postJson(`${url}/services/${name}`)) as ServiceInfoMap[K];
  local ??= new TestEnvironment((line) => process.stderr.write(`[testenv] ${line}\n`));
  return local.get(name);
}

export const testEnv = {
  postgres: () => service('postgres'),
  minio: () => service('minio'),
  kube: () => service('kube'),
  helm: () => service('helm'),
  qemu: () => service('qemu'),
  chromium: () => service('chromium'),
  /** The Dex binary; tests start their own instance with startDex (test/env/services/dex.ts). */
  dex: () => service('dex'),
};
