// The demo content of a fresh embedded installation (config/demo/demo.yaml): machines, products,
// test suites and job groups with their JobTemplates-01 YAML, created through the API's own
// routes (so they are validated like any other) and only once: the database remembers that it
// was seeded (kubeqa_meta demo_seeded), and an entry that exists already is left as it is.
// `machineDefaults` (kubeqa up passes TIMEOUT_SCALE for the host's accelerator) fill settings a
// machine of the file does not set itself.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { KubeqaError } from '../domain/errors.js';
import type { QueryFn } from './connect.js';

export interface DemoConfig {
  machines: { name: string; backend: string; settings?: Record<string, string> }[];
  products: {
    distri: string;
    version: string;
    flavor: string;
    arch: string;
    settings?: Record<string, string>;
  }[];
  test_suites: { name: string; description?: string; settings?: Record<string, string> }[];
  job_groups: { name: string; template: string }[];
}

/** One API call: method, path below /api/v1, query parameters, JSON body → status and body. */
export type ApiCall = (
  method: string,
  path: string,
  params?: Record<string, string>,
  body?: unknown,
) => Promise<{ status: number; body: unknown }>;

export function readDemoConfig(path: string): DemoConfig {
  const parsed = parse(readFileSync(path, 'utf8')) as Partial<DemoConfig> | null;
  if (!parsed || !Array.isArray(parsed.machines) || !Array.isArray(parsed.products))
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `${path} is not a demo configuration`,
      'see config/demo/demo.yaml',
    );
  return {
    machines: parsed.machines,
    products: parsed.products,
    test_suites: parsed.test_suites ?? [],
    job_groups: parsed.job_groups ?? [],
  };
}

function withSettings(fields: Record<string, string | undefined>, settings: Record<string, string> = {}) {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) params[k] = v;
  for (const [k, v] of Object.entries(settings)) params[`settings[${k}]`] = String(v);
  return params;
}

export interface SeedOptions {
  /** Settings every demo machine gets unless the file sets them (e.g. TIMEOUT_SCALE). */
  machineDefaults?: Record<string, string>;
}

/** Seeds the demo unless it was done before; returns whether it seeded now. */
export async function seedDemo(
  q: QueryFn,
  api: ApiCall,
  config: DemoConfig,
  options: SeedOptions = {},
): Promise<boolean> {
  const [done] = await q("select 1 from kubeqa_meta where key = 'demo_seeded'");
  if (done) return false;
  const create = async (path: string, params: Record<string, string>, body?: unknown) => {
    const answer = await api('POST', path, params, body);
    if (answer.status >= 300 && answer.status !== 409) {
      throw new KubeqaError(
        'KQ_ERR_INTERNAL',
        `seeding the demo: POST ${path} was refused (${answer.status}): ${JSON.stringify(answer.body)}`,
      );
    }
    return answer;
  };
  for (const m of config.machines)
    await create(
      'machines',
      withSettings({ name: m.name, backend: m.backend }, { ...options.machineDefaults, ...m.settings }),
    );
  for (const p of config.products)
    await create(
      'products',
      withSettings({ distri: p.distri, version: p.version, flavor: p.flavor, arch: p.arch }, p.settings),
    );
  for (const t of config.test_suites)
    await create('test_suites', withSettings({ name: t.name, description: t.description }, t.settings));
  for (const g of config.job_groups) {
    await create('job_groups', { name: g.name });
    const [group] = await q<{ id: number }>('select id from job_groups where name = $1', [g.name]);
    if (!group)
      throw new KubeqaError('KQ_ERR_INTERNAL', `seeding the demo: job group ${g.name} was not created`);
    await create(
      `job_templates_scheduling/${group.id}`,
      { schema: 'JobTemplates-01.yaml' },
      { template: g.template },
    );
  }
  await q(
    "insert into kubeqa_meta (key, value) values ('demo_seeded', now()::text) on conflict (key) do nothing",
  );
  return true;
}
