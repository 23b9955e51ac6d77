// /api/v1/job_templates and /api/v1/job_templates_scheduling/:group (JobTemplates-01 YAML).
import type { FastifyInstance } from 'fastify';
import type { QueryFn } from '../../db/connect.js';
import { KubeqaError } from '../../domain/errors.js';
import {
  expandedYaml,
  parseJobTemplatesYaml,
  type TemplateEntry,
} from '../../domain/products/job-templates-yaml.js';
import type { ApiContext } from '../app.js';
import { intParam, requestParams, single } from '../params.js';
import { flag, idOf, idParams, need, settingsBody } from './common.js';
import { settingsList, settingsOf } from './config.js';

/** Resolves names to ids; returns rows to insert and the errors for what does not exist. */
async function resolveEntries(q: QueryFn, entries: readonly TemplateEntry[]) {
  const products = await q<{ id: number; distri: string; version: string; flavor: string; arch: string }>(
    'select id, distri, version, flavor, arch from products',
  );
  const machines = await q<{ id: number; name: string }>('select id, name from machines');
  const suites = await q<{ id: number; name: string }>('select id, name from test_suites');
  const errors: string[] = [];
  const rows = [];
  for (const e of entries) {
    const p = products.find(
      (x) =>
        x.distri === e.product.distri &&
        x.version === e.product.version &&
        x.flavor === e.product.flavor &&
        x.arch === e.product.arch,
    );
    const m = machines.find((x) => x.name === e.machine);
    const s = suites.find((x) => x.name === e.testSuite);
    if (!p)
      errors.push(
        `product ${e.product.distri}-${e.product.version}-${e.product.flavor}-${e.product.arch} does not exist (POST /api/v1/products first)`,
      );
    if (!m) errors.push(`machine ${e.machine} does not exist (POST /api/v1/machines first)`);
    if (!s) errors.push(`test suite ${e.testSuite} does not exist (POST /api/v1/test_suites first)`);
    if (p && m && s) rows.push({ productId: p.id, machineId: m.id, testSuiteId: s.id, entry: e });
  }
  return { rows, errors: [...new Set(errors)] };
}

export async function jobTemplateRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const list = async (where: string, params: unknown[]) => {
    const rows = await database.query<Record<string, unknown>>(
      `select t.id, t.prio, t.name, t.description, t.settings, t.group_id, g.name as group_name,
              p.id as p_id, p.distri, p.version, p.flavor, p.arch, m.id as m_id, m.name as m_name, m.backend,
              s.id as s_id, s.name as s_name
         from job_templates t join job_groups g on g.id = t.group_id join products p on p.id = t.product_id
         join machines m on m.id = t.machine_id join test_suites s on s.id = t.test_suite_id ${where} order by t.id`,
      params,
    );
    return {
      JobTemplates: rows.map((r) => ({
        id: r.id,
        prio: r.prio,
        name: r.name,
        description: r.description,
        group_id: r.group_id,
        group_name: r.group_name,
        product: { id: r.p_id, distri: r.distri, version: r.version, flavor: r.flavor, arch: r.arch },
        machine: { id: r.m_id, name: r.m_name, backend: r.backend },
        test_suite: { id: r.s_id, name: r.s_name },
        settings: settingsList(r.settings as Record<string, string>),
      })),
    };
  };
  api.get(
    '/job_templates',
    { schema: { summary: 'list job templates', tags: ['job_templates'] } },
    async (request) => {
      const groupId = intParam(requestParams(request), 'group_id');
      return groupId === undefined ? list('', []) : list('where t.group_id = $1', [groupId]);
    },
  );
  api.get(
    '/job_templates/:id',
    { schema: { summary: 'one job template', tags: ['job_templates'], params: idParams } },
    async (request) => {
      const result = await list('where t.id = $1', [idOf(request)]);
      if (result.JobTemplates.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `job template ${idOf(request)} does not exist`);
      return result;
    },
  );
  api.post(
    '/job_templates',
    { schema: { summary: 'add one template (ids or names)', tags: ['job_templates'], body: settingsBody } },
    async (request) => {
      await need(request, 'admin');
      const p = requestParams(request);
      const byIdOrName = async (table: string, idKey: string, nameKey: string) => {
        const id = intParam(p, idKey);
        const name = single(p, nameKey);
        if (id === undefined && name === undefined)
          throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `missing parameter: ${idKey} or ${nameKey}`);
        const [row] = await database.query<{ id: number }>(
          id !== undefined
            ? `select id from ${table} where id = $1`
            : `select id from ${table} where name = $1`,
          [id ?? name],
        );
        if (!row)
          throw new KubeqaError(
            'KQ_ERR_INVALID_ARGUMENT',
            `${idKey}/${nameKey}: ${id ?? name} does not exist`,
          );
        return row.id;
      };
      const groupId = await byIdOrName('job_groups', 'group_id', 'group_name');
      const machineId = await byIdOrName('machines', 'machine_id', 'machine_name');
      const suiteId = await byIdOrName('test_suites', 'test_suite_id', 'test_suite_name');
      let productId = intParam(p, 'product_id');
      if (productId === undefined) {
        const [row] = await database.query<{ id: number }>(
          'select id from products where distri = $1 and version = $2 and flavor = $3 and arch = $4',
          [single(p, 'distri'), single(p, 'version') ?? '*', single(p, 'flavor'), single(p, 'arch')],
        );
        if (!row)
          throw new KubeqaError(
            'KQ_ERR_INVALID_ARGUMENT',
            'product_id or distri/version/flavor/arch: no such product',
          );
        productId = row.id;
      }
      try {
        const [row] = await database.query<{ id: number }>(
          `insert into job_templates (product_id, machine_id, test_suite_id, group_id, prio, name, settings)
         values ($1, $2, $3, $4, $5, $6, $7::jsonb) returning id`,
          [
            productId,
            machineId,
            suiteId,
            groupId,
            intParam(p, 'prio') ?? null,
            single(p, 'name') ?? '',
            JSON.stringify(settingsOf(p, request.body)),
          ],
        );
        return { id: row?.id };
      } catch (error) {
        if ((error as { code?: string }).code === '23505')
          throw new KubeqaError(
            'KQ_ERR_CONFLICT',
            'this product × machine × test suite template exists already',
          );
        throw error;
      }
    },
  );
  api.delete(
    '/job_templates/:id',
    { schema: { summary: 'delete a job template', tags: ['job_templates'], params: idParams } },
    async (request) => {
      await need(request, 'admin');
      const rows = await database.query('delete from job_templates where id = $1 returning id', [
        idOf(request),
      ]);
      if (rows.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `job template ${idOf(request)} does not exist`);
      return { result: 1 };
    },
  );

  const groupParams = {
    type: 'object',
    properties: { group: { type: 'string' } },
    required: ['group'],
  } as const;
  const findGroup = async (q: QueryFn, ref: string) => {
    const [g] = await q<{ id: number; name: string; template: string | null }>(
      /^\d+$/.test(ref)
        ? 'select id, name, template from job_groups where id = $1'
        : 'select id, name, template from job_groups where name = $1',
      [/^\d+$/.test(ref) ? Number(ref) : ref],
    );
    if (!g) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job group ${ref} does not exist`);
    return g;
  };
  api.get(
    '/job_templates_scheduling/:group',
    { schema: { summary: "a group's JobTemplates-01 YAML", tags: ['job_templates'], params: groupParams } },
    async (request, reply) => {
      const g = await findGroup(database.query, (request.params as { group: string }).group);
      return reply.type('text/yaml; charset=utf-8').send(g.template ?? '');
    },
  );
  api.get(
    '/job_templates_scheduling',
    { schema: { summary: 'every group’s YAML by group name', tags: ['job_templates'] } },
    async () => {
      const rows = await database.query<{ name: string; template: string | null }>(
        'select name, template from job_groups order by name',
      );
      return Object.fromEntries(rows.map((r) => [r.name, r.template ?? '']));
    },
  );
  api.post(
    '/job_templates_scheduling/:group',
    {
      schema: {
        summary:
          "set a group's templates from JobTemplates-01 YAML (preview=1 checks only, expand=1 returns the expanded YAML)",
        tags: ['job_templates'],
        params: groupParams,
        body: settingsBody,
      },
    },
    async (request, reply) => {
      await need(request, 'admin');
      const p = requestParams(request);
      const template = single(p, 'template');
      if (template === undefined)
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          'missing parameter: template',
          'send the YAML in template=…',
        );
      const schema = single(p, 'schema');
      if (schema !== undefined && schema !== 'JobTemplates-01.yaml') {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `schema ${schema} is not supported`,
          'use schema=JobTemplates-01.yaml',
        );
      }
      const preview = flag(single(p, 'preview'));
      const expand = flag(single(p, 'expand'));
      const ref = (request.params as { group: string }).group;
      return database.transaction(async (q) => {
        const g = await findGroup(q, ref);
        const reference = single(p, 'reference');
        if (reference !== undefined && reference !== (g.template ?? '')) {
          throw new KubeqaError(
            'KQ_ERR_CONFLICT',
            `the templates of group ${g.name} changed since you loaded them`,
            'reload and apply your change again',
          );
        }
        const parsed = parseJobTemplatesYaml(template);
        const resolved =
          parsed.errors.length === 0 ? await resolveEntries(q, parsed.entries) : { rows: [], errors: [] };
        const errors = [...parsed.errors, ...resolved.errors];
        if (errors.length > 0) {
          return reply
            .status(400)
            .send({ error: errors.join('; '), error_status: 400, errors, id: g.id, job_group_id: g.id });
        }
        if (!preview) {
          await q('delete from job_templates where group_id = $1', [g.id]);
          for (const r of resolved.rows) {
            await q(
              `insert into job_templates (product_id, machine_id, test_suite_id, group_id, prio, name, description, settings)
             values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
              [
                r.productId,
                r.machineId,
                r.testSuiteId,
                g.id,
                r.entry.prio,
                r.entry.name,
                r.entry.description,
                JSON.stringify(r.entry.settings),
              ],
            );
          }
          await q('update job_groups set template = $2, t_updated = now() where id = $1', [g.id, template]);
        }
        return {
          id: g.id,
          job_group_id: g.id,
          preview: preview ? 1 : 0,
          count: parsed.entries.length,
          ...(expand ? { result: expandedYaml(parsed.entries, new Map()) } : {}),
        };
      });
    },
  );
}
