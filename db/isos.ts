// `POST /api/v1/isos` against the database: load the job templates of the posted product, expand
// them (domain/products/expand.ts), obsolete or deprioritize older builds, and write the scheduled
// product and every job in one transaction.
import type { MultiSettings } from '../domain/jobs/create-params.js';
import {
  expandProduct,
  type FailedJob,
  obsoletionPolicy,
  requireProductKeys,
  type TemplateRow,
} from '../domain/products/expand.js';
import type { Settings } from '../domain/products/settings.js';
import type { OpenDatabase, QueryFn } from './connect.js';
import { publishUiEvents } from './job-events.js';
import { changeJobStates, insertJobs } from './jobs.js';

export async function loadTemplates(q: QueryFn, params: Settings): Promise<TemplateRow[]> {
  const rows = await q<{
    template_id: number;
    name: string;
    prio: number | null;
    settings: Settings;
    group_id: number;
    group_name: string;
    default_priority: number;
    distri: string;
    version: string;
    flavor: string;
    arch: string;
    product_settings: Settings;
    machine_name: string;
    backend: string;
    machine_settings: Settings;
    suite_name: string;
    suite_settings: Settings;
  }>(
    `select t.id as template_id, t.name, t.prio, t.settings, g.id as group_id, g.name as group_name, g.default_priority,
            p.distri, p.version, p.flavor, p.arch, p.settings as product_settings,
            m.name as machine_name, m.backend, m.settings as machine_settings,
            s.name as suite_name, s.settings as suite_settings
       from job_templates t
       join products p on p.id = t.product_id
       join machines m on m.id = t.machine_id
       join test_suites s on s.id = t.test_suite_id
       join job_groups g on g.id = t.group_id
      where lower(p.distri) = lower($1) and (p.version = $2 or p.version = '*') and p.flavor = $3 and p.arch = $4
      order by t.id`,
    [params.DISTRI, params.VERSION, params.FLAVOR, params.ARCH],
  );
  return rows.map((r) => ({
    templateId: r.template_id,
    name: r.name,
    prio: r.prio,
    settings: r.settings ?? {},
    group: { id: r.group_id, name: r.group_name, defaultPriority: r.default_priority },
    product: {
      distri: r.distri,
      version: r.version,
      flavor: r.flavor,
      arch: r.arch,
      settings: r.product_settings ?? {},
    },
    machine: { name: r.machine_name, backend: r.backend, settings: r.machine_settings ?? {} },
    testSuite: { name: r.suite_name, settings: r.suite_settings ?? {} },
  }));
}

export interface IsoPostResult {
  scheduled_product_id: number;
  successful_job_ids: number[];
  failed_job_info: FailedJob[];
  count: number;
  ids: number[];
}

export async function postIso(
  database: OpenDatabase,
  params: Settings,
  userId: number | null,
): Promise<IsoPostResult> {
  requireProductKeys(params);
  const policy = obsoletionPolicy(params);
  return database.transaction(async (q) => {
    const templates = await loadTemplates(q, params);
    const plan = expandProduct(params, templates);
    const [product] = await q<{ id: number }>(
      `insert into scheduled_products (distri, version, flavor, arch, build, iso, status, settings, user_id)
       values ($1, $2, $3, $4, $5, $6, 'scheduling', $7::jsonb, $8) returning id`,
      [
        params.DISTRI,
        params.VERSION,
        params.FLAVOR,
        params.ARCH,
        params.BUILD ?? '',
        params.ISO ?? '',
        JSON.stringify(params),
        userId,
      ],
    );
    const productId = (product as { id: number }).id;

    if (policy.mode !== 'none' && plan.jobs.length > 0) {
      const groupIds = [...new Set(plan.jobs.map((j) => j.groupId))];
      const build = params.BUILD ?? '';
      const older = await q<{ id: number; priority: number }>(
        `select id, priority from jobs
          where distri = $1 and version = $2 and flavor = $3 and arch = $4 and group_id = any($5::int[])
            and state in ('scheduled', 'assigned', 'setup', 'running', 'uploading')
            and ${policy.sameBuildOnly ? 'build = $6' : 'build <> $6'}
          for update`,
        [params.DISTRI, params.VERSION, params.FLAVOR, params.ARCH, groupIds, build],
      );
      if (policy.mode === 'obsolete') {
        await changeJobStates(
          q,
          older.map((o) => ({
            id: Number(o.id),
            state: 'cancelled',
            result: 'obsoleted',
            reason: `obsoleted by build ${build}`,
          })),
        );
      } else {
        const raise = older.filter((o) => o.priority + policy.step <= policy.limit);
        const cancel = older.filter((o) => o.priority + policy.step > policy.limit);
        if (raise.length > 0) {
          await q(
            'update jobs set priority = priority + $2, t_updated = now() where id = any($1::bigint[])',
            [raise.map((o) => o.id), policy.step],
          );
          // Delivered at commit: the scheduler re-reads these jobs' priorities in its next pass.
          await publishUiEvents(
            q,
            raise.map((o) => ({ type: 'job.priority', id: Number(o.id) })),
          );
        }
        await changeJobStates(
          q,
          cancel.map((o) => ({
            id: Number(o.id),
            state: 'cancelled',
            result: 'obsoleted',
            reason: `deprioritized below the limit by build ${build}`,
          })),
        );
      }
    }

    const ids = await insertJobs(
      q,
      plan.jobs.map((j) => {
        const settings: MultiSettings = {};
        for (const [k, v] of Object.entries(j.settings))
          settings[k] = k === 'WORKER_CLASS' ? v.split(',') : [v];
        return {
          test: j.test,
          distri: j.settings.DISTRI ?? '',
          version: j.settings.VERSION ?? '',
          flavor: j.settings.FLAVOR ?? '',
          arch: j.settings.ARCH ?? '',
          build: j.settings.BUILD ?? '',
          machine: j.machine,
          groupId: j.groupId,
          priority: j.priority,
          scheduledProductId: productId,
          settings,
          assets: j.assets,
        };
      }),
      plan.edges.map((e) => ({ child: e.child, parent: e.parent, type: e.type })),
    );
    const result: IsoPostResult = {
      scheduled_product_id: productId,
      successful_job_ids: ids,
      failed_job_info: plan.failed,
      count: ids.length,
      ids,
    };
    await q(
      "update scheduled_products set status = 'scheduled', results = $2::jsonb, t_updated = now() where id = $1",
      [productId, JSON.stringify({ successful_job_ids: ids, failed_job_info: plan.failed })],
    );
    return result;
  });
}
