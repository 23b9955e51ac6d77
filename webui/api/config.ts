// /api/v1/machines, /products, /test_suites: openQA's table routes. Responses as openQA's:
// `{Machines|Products|TestSuites: [{id, …, settings: [{key, value}]}]}`; settings are sent as
// `settings[KEY]=value` (form) or a `settings` object (JSON).
import type { FastifyInstance } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { type FlatParams, requestParams, single } from '../params.js';
import { idOf, idParams, need, settingsBody } from './common.js';

interface TableSpec {
  route: string;
  table: string;
  key: string;
  /** Columns besides settings: name → required on create. */
  columns: Record<string, boolean>;
  defaults?: Record<string, string>;
}

const TABLES: TableSpec[] = [
  {
    route: 'machines',
    table: 'machines',
    key: 'Machines',
    columns: { name: true, backend: true, description: false },
  },
  {
    route: 'products',
    table: 'products',
    key: 'Products',
    columns: { distri: true, version: false, flavor: true, arch: true, description: false, name: false },
    defaults: { version: '*' },
  },
  {
    route: 'test_suites',
    table: 'test_suites',
    key: 'TestSuites',
    columns: { name: true, description: false },
  },
];

export function settingsOf(params: FlatParams, body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const json = (body as { settings?: unknown } | undefined)?.settings;
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    for (const [k, v] of Object.entries(json)) out[k] = String(v);
  } else if (Array.isArray(json)) {
    for (const item of json as { key: string; value: string }[]) out[item.key] = String(item.value);
  }
  for (const key of Object.keys(params)) {
    const m = /^settings\[(.+)\]$/.exec(key);
    if (m?.[1]) out[m[1]] = single(params, key) as string;
  }
  for (const k of Object.keys(out)) {
    if (!/^\+?[A-Za-z0-9_[\]:-]+$/.test(k))
      throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `settings: '${k}' is not a valid setting name`);
  }
  return out;
}

export function settingsList(settings: Record<string, string> | null): { key: string; value: string }[] {
  return Object.entries(settings ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => ({ key, value }));
}

export async function configRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  for (const spec of TABLES) {
    const cols = Object.keys(spec.columns);
    const shape = (row: Record<string, unknown>) => ({
      ...row,
      settings: settingsList(row.settings as Record<string, string>),
    });
    const select = `select id, ${cols.join(', ')}, settings from ${spec.table}`;
    api.get(
      `/${spec.route}`,
      { schema: { summary: `list ${spec.route}`, tags: ['config'] } },
      async (request) => {
        const p = requestParams(request);
        const where: string[] = [];
        const values: unknown[] = [];
        for (const c of cols) {
          const v = single(p, c);
          if (v !== undefined) {
            values.push(v);
            where.push(`${c} = $${values.length}`);
          }
        }
        const rows = await database.query<Record<string, unknown>>(
          `${select} ${where.length ? `where ${where.join(' and ')}` : ''} order by id`,
          values,
        );
        return { [spec.key]: rows.map(shape) };
      },
    );
    api.get(
      `/${spec.route}/:id`,
      { schema: { summary: `one of ${spec.route}`, tags: ['config'], params: idParams } },
      async (request) => {
        const rows = await database.query<Record<string, unknown>>(`${select} where id = $1`, [
          idOf(request),
        ]);
        if (rows.length === 0)
          throw new KubeqaError('KQ_ERR_NOT_FOUND', `${spec.route} ${idOf(request)} does not exist`);
        return { [spec.key]: rows.map(shape) };
      },
    );
    const write = async (params: FlatParams, body: unknown, id?: number) => {
      const values: Record<string, string> = {};
      for (const [c, required] of Object.entries(spec.columns)) {
        const v = single(params, c) ?? (id === undefined ? spec.defaults?.[c] : undefined);
        if (v === undefined) {
          if (required && id === undefined)
            throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `missing parameter: ${c}`);
          continue;
        }
        values[c] = v;
      }
      const settings = settingsOf(params, body);
      const names = Object.keys(values);
      try {
        if (id === undefined) {
          const placeholders = [...names.map((_, i) => `$${i + 1}`), `$${names.length + 1}::jsonb`];
          const [row] = await database.query<{ id: number }>(
            `insert into ${spec.table} (${[...names, 'settings'].join(', ')}) values (${placeholders.join(', ')}) returning id`,
            [...names.map((n) => values[n]), JSON.stringify(settings)],
          );
          return row?.id as number;
        }
        const sets = names.map((n, i) => `${n} = $${i + 2}`);
        sets.push(`settings = $${names.length + 2}::jsonb`, 't_updated = now()');
        const rows = await database.query(
          `update ${spec.table} set ${sets.join(', ')} where id = $1 returning id`,
          [id, ...names.map((n) => values[n]), JSON.stringify(settings)],
        );
        if (rows.length === 0)
          throw new KubeqaError('KQ_ERR_NOT_FOUND', `${spec.route} ${id} does not exist`);
        return id;
      } catch (error) {
        if ((error as { code?: string }).code === '23505') {
          throw new KubeqaError(
            'KQ_ERR_CONFLICT',
            `${spec.route}: an entry with these ${names.join('/')} exists already`,
          );
        }
        throw error;
      }
    };
    api.post(
      `/${spec.route}`,
      { schema: { summary: `create one of ${spec.route}`, tags: ['config'], body: settingsBody } },
      async (request) => {
        await need(request, 'admin');
        return { id: await write(requestParams(request), request.body) };
      },
    );
    api.put(
      `/${spec.route}/:id`,
      {
        schema: {
          summary: `replace one of ${spec.route}`,
          tags: ['config'],
          params: idParams,
          body: settingsBody,
        },
      },
      async (request) => {
        await need(request, 'admin');
        await write(requestParams(request), request.body, idOf(request));
        return { result: 1 };
      },
    );
    api.delete(
      `/${spec.route}/:id`,
      { schema: { summary: `delete one of ${spec.route}`, tags: ['config'], params: idParams } },
      async (request) => {
        await need(request, 'admin');
        const rows = await database.query(`delete from ${spec.table} where id = $1 returning id`, [
          idOf(request),
        ]);
        if (rows.length === 0)
          throw new KubeqaError('KQ_ERR_NOT_FOUND', `${spec.route} ${idOf(request)} does not exist`);
        return { result: 1 };
      },
    );
  }
}
