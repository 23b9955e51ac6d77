// API benchmarks on real PostgreSQL (the test harness's PostgreSQL 15), side by side with the
// openQA 4.6 figures measured on the same kind of machine (docs/benchmarks.md):
//   1. POST /api/v1/isos expanding to 1,000 jobs (1 product × 10 machines × 100 test suites)
//   2. GET /api/v1/jobs, the full list, at 10,000 jobs
//   3. GET /api/v1/jobs?limit=100 at 10,000 and at 1,000,000 jobs
//   4. EXPLAIN of the list queries at 1,000,000 jobs (index use)
// Rows beyond the isos posts are generated with SQL generate_series, not through the API.
// Run: npx tsx bench/api/run.ts [--million] (without --million, step 3 stops at 10,000)
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { createApiKey, ensureUser } from '../../db/users.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { createDatabase, testEnv } from '../../test/env/index.js';
import { buildApp } from '../../webui/app.js';

const million = process.argv.includes('--million');
const run = promisify(execFile);
const OPENQA = { isos1000: '12.8 s', list10k: '4.1 s', limit100at10k: '46 ms' };

async function main() {
  const pg = await testEnv.postgres();
  const database = openPostgres({ url: await createDatabase(pg, `bench_api_${Date.now()}`) });
  await migrate(database);
  const userId = await ensureUser(database.query, 'bench', 'admin');
  const { key, secret } = await createApiKey(database.query, userId);
  const blobDir = mkdtempSync(join(tmpdir(), 'kubeqa-bench-'));
  const app = await buildApp({ database, blobDir });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  // Timed with curl in its own process (time_total: request sent → last byte received), so the
  // client's work does not share the server's CPU; the body is checked afterwards.
  const bodyFile = join(blobDir, 'body.json');
  const call = async (method: string, pathQuery: string, form?: Record<string, string>) => {
    const headers = signRequest(key, secret, pathQuery);
    const args = ['-s', '-o', bodyFile, '-w', '%{http_code} %{time_total} %{size_download}', '-X', method];
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
    if (form) args.push('--data', new URLSearchParams(form).toString());
    const { stdout } = await run('curl', [...args, `${url}${pathQuery}`]);
    const [status, seconds, bytes] = stdout.trim().split(' ');
    const text = readFileSync(bodyFile, 'utf8');
    if (status !== '200') throw new Error(`${method} ${pathQuery}: ${status} ${text.slice(0, 300)}`);
    return {
      ms: Number(seconds) * 1000,
      bytes: Number(bytes),
      json: JSON.parse(text) as Record<string, unknown>,
    };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const rows: [string, string, string, string][] = [];

  // --- configuration: 10 machines × 100 test suites for one product, one group
  await database.query(`insert into machines (name, backend, settings)
    select 'machine' || i, 'qemu', jsonb_build_object('QEMUCPU', 'host', 'WORKER_CLASS', 'qemu_x86_64', 'QEMURAM', '2048') from generate_series(1, 10) i`);
  await database.query(`insert into test_suites (name, settings)
    select 'suite' || i, jsonb_build_object('DESKTOP', 'gnome', 'HDDSIZEGB', '20', 'INSTALLONLY', '1', 'DESC', 'suite %TEST%')
      from generate_series(1, 100) i`);
  await database.query(`insert into products (distri, version, flavor, arch, settings)
    values ('debian', '12', 'netinst', 'x86_64', '{"ISO_MAXSIZE": "700000000"}')`);
  await database.query(`insert into job_groups (name) values ('bench')`);
  await database.query(`insert into job_templates (product_id, machine_id, test_suite_id, group_id)
    select 1, m.id, s.id, 1 from machines m cross join test_suites s`);

  // --- 1. isos post → 1,000 jobs
  const isoTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await call('POST', '/api/v1/isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: `b${i}`,
      ISO: `debian-12-b${i}.iso`,
    });
    if (r.json.count !== 1000) throw new Error(`expected 1000 jobs, got ${r.json.count}`);
    isoTimes.push(r.ms);
  }
  rows.push([
    'POST isos → 1,000 jobs (median of 5)',
    `${(median(isoTimes) / 1000).toFixed(3)} s`,
    '≤ 0.5 s',
    OPENQA.isos1000,
  ]);

  // --- 2. fill to 10,000 jobs with generated rows (10 settings each)
  const fill = async (total: number) => {
    const [{ n }] = (await database.query<{ n: number }>('select count(*)::int as n from jobs')) as [
      { n: number },
    ];
    if (n >= total) return;
    const started = performance.now();
    const batch = 200_000;
    for (let from = n; from < total; from += batch) {
      const count = Math.min(batch, total - from);
      await database.query(
        `insert into jobs (test, distri, version, flavor, arch, build, machine, group_id, priority, state, result, t_started, t_finished, settings)
         select 'suite' || (i % 100 + 1), 'debian', '12', 'netinst', 'x86_64', 'g' || (i / 1000), 'machine' || (i % 10 + 1), 1, 50,
                'done', case when i % 7 = 0 then 'failed' else 'passed' end, now(), now(),
                jsonb_build_object('DISTRI', 'debian', 'VERSION', '12', 'FLAVOR', 'netinst', 'ARCH', 'x86_64', 'BUILD', 'g' || (i / 1000),
                  'TEST', 'suite' || (i % 100 + 1), 'MACHINE', 'machine' || (i % 10 + 1), 'ISO', 'debian-12-g' || (i / 1000) || '.iso',
                  'DESKTOP', 'gnome', 'WORKER_CLASS', 'qemu_x86_64', 'HDDSIZEGB', '20', 'QEMURAM', '2048', 'BACKEND', 'qemu')
           from generate_series($1::int, $2::int) i`,
        [from, from + count - 1],
      );
    }
    await database.query('analyze');
    process.stderr.write(
      `filled to ${total} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  };
  await fill(10_000);
  const listTimes: number[] = [];
  let listBytes = 0;
  for (let i = 0; i < 5; i++) {
    const r = await call('GET', '/api/v1/jobs');
    if ((r.json.jobs as unknown[]).length !== 10_000) throw new Error('expected 10,000 jobs');
    listTimes.push(r.ms);
    listBytes = r.bytes;
  }
  rows.push([
    `GET jobs, full list at 10,000 jobs (${(listBytes / 1e6).toFixed(1)} MB, median of 5)`,
    `${(median(listTimes) / 1000).toFixed(3)} s`,
    '≤ 0.4 s',
    OPENQA.list10k,
  ]);
  const limitAt = async (n: string) => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) times.push((await call('GET', '/api/v1/jobs?limit=100')).ms);
    const filtered: number[] = [];
    for (let i = 0; i < 20; i++)
      filtered.push((await call('GET', '/api/v1/jobs?limit=100&state=done&result=failed')).ms);
    rows.push([
      `GET jobs?limit=100 at ${n} jobs (median of 20)`,
      `${median(times).toFixed(1)} ms`,
      '≤ 10 ms',
      n === '10,000' ? OPENQA.limit100at10k : '—',
    ]);
    rows.push([
      `GET jobs?limit=100&state=done&result=failed at ${n} jobs`,
      `${median(filtered).toFixed(1)} ms`,
      '—',
      '—',
    ]);
  };
  await limitAt('10,000');

  if (million) {
    await fill(1_000_000);
    await limitAt('1,000,000');
    const explain = async (label: string, sql: string, params: unknown[] = []) => {
      const plan = await database.query<{ 'QUERY PLAN': string }>(
        `explain (analyze, buffers off) ${sql}`,
        params,
      );
      process.stdout.write(`\n-- ${label}\n${plan.map((p) => p['QUERY PLAN']).join('\n')}\n`);
    };
    await explain('newest 100 jobs', 'select j.id from jobs j order by j.id desc limit 100');
    await explain(
      'newest 100 failed',
      "select j.id from jobs j where j.result = any('{failed}'::text[]) order by j.id desc limit 100",
    );
    await explain(
      'a build of a group',
      "select j.id from jobs j where j.group_id = 1 and j.build = 'g500' order by j.id desc",
    );
    await explain(
      'jobs of an ISO (settings search)',
      `select id from jobs where settings @> '{"ISO": "debian-12-g500.iso"}'`,
    );
    await explain(
      'latest job per scenario of a build',
      `select id from (select distinct on (j.distri, j.version, j.flavor, j.arch, j.test, j.machine) j.id from jobs j
        where j.distri = 'debian' and j.version = '12' and j.build = 'g500'
        order by j.distri, j.version, j.flavor, j.arch, j.test, j.machine, j.id desc) x order by id desc`,
    );
    await explain(
      'scheduler: next scheduled jobs',
      "select id from jobs where state = 'scheduled' order by priority, id limit 50",
    );
  }

  process.stdout.write('\n| measurement | kubeqa | target | openQA 4.6 |\n|---|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
  await app.close();
  await database.close();
  rmSync(blobDir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
