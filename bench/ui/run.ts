// UI server-time benchmark on real PostgreSQL at 1,000,000 jobs: the JSON behind the overview,
// a build matrix and a job page, and the page HTML itself, timed with curl in its own process
// (time_total: request sent → last byte received). Prints EXPLAIN ANALYZE of the overview query.
// Jobs: 20 groups, builds of 1,000 jobs (100 test suites × 10 machines), 1 in 7 failed; one job
// with 20 modules × 30 steps (needle details) for the job page. Rows generated with SQL.
// Run: npx tsx bench/ui/run.ts [--jobs N]  (default 1,000,000)
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { createDatabase, testEnv } from '../../test/env/index.js';
import { buildApp } from '../../webui/app.js';
import { overview } from '../../webui/ui/queries.js';

const jobsArg = process.argv.indexOf('--jobs');
const TOTAL = jobsArg > 0 ? Number(process.argv[jobsArg + 1]) : 1_000_000;
const run = promisify(execFile);

async function main() {
  const pg = await testEnv.postgres();
  const database = openPostgres({ url: await createDatabase(pg, `bench_ui_${Date.now()}`) });
  await migrate(database);
  const blobDir = mkdtempSync(join(tmpdir(), 'kubeqa-bench-ui-'));
  const app = await buildApp({ database, blobDir });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const bodyFile = join(blobDir, 'body');
  const call = async (path: string) => {
    const { stdout } = await run('curl', [
      '-s',
      '-o',
      bodyFile,
      '-w',
      '%{http_code} %{time_total} %{size_download}',
      `${url}${path}`,
    ]);
    const [status, seconds, bytes] = stdout.trim().split(' ');
    if (status !== '200')
      throw new Error(`${path}: ${status} ${readFileSync(bodyFile, 'utf8').slice(0, 300)}`);
    return { ms: Number(seconds) * 1000, bytes: Number(bytes), body: readFileSync(bodyFile, 'utf8') };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

  const started = performance.now();
  await database.query(`insert into job_groups (name) select 'group ' || g from generate_series(1, 20) g`);
  const batch = 200_000;
  for (let from = 0; from < TOTAL; from += batch) {
    const count = Math.min(batch, TOTAL - from);
    // build b = i / 1000 belongs to group b % 20 + 1; names sort like numbers (zero-padded)
    await database.query(
      `insert into jobs (test, distri, version, flavor, arch, build, machine, group_id, priority, state, result, t_started, t_finished, settings)
       select 'suite' || (i % 100 + 1), 'debian', '12', 'netinst', 'x86_64', lpad((i / 1000)::text, 6, '0'),
              'machine' || (i / 100 % 10 + 1), (i / 1000) % 20 + 1, 50, 'done',
              case when i % 7 = 0 then 'failed' else 'passed' end, now(), now(),
              jsonb_build_object('DISTRI', 'debian', 'VERSION', '12', 'FLAVOR', 'netinst', 'ARCH', 'x86_64',
                'BUILD', lpad((i / 1000)::text, 6, '0'), 'TEST', 'suite' || (i % 100 + 1), 'MACHINE', 'machine' || (i / 100 % 10 + 1))
         from generate_series($1::int, $2::int) i`,
      [from, from + count - 1],
    );
  }
  // one job with 20 modules × 30 steps, as a long installation test has
  const [job] = await database.query<{ id: number }>('select max(id) as id from jobs');
  const jobId = Number(job?.id);
  await database.query(
    `insert into job_modules (job_id, name, category, result, sort_order)
     select $1, 'module' || m, 'install', 'passed', m from generate_series(1, 20) m`,
    [jobId],
  );
  await database.query(
    `insert into job_module_steps (module_id, num, kind, result, needle, similarity, screenshot_hash, details)
     select jm.id, s, 'screen', 'ok', 'needle-' || s, 98, md5(jm.id || '-' || s) || md5(s::text),
            jsonb_build_object('area', jsonb_build_array(jsonb_build_object('x', 10, 'y', 10, 'w', 100, 'h', 20, 'similarity', 98, 'result', 'ok')), 'tags', jsonb_build_array('tag-' || s))
       from job_modules jm, generate_series(1, 30) s where jm.job_id = $1`,
    [jobId],
  );
  await database.query('vacuum analyze jobs');
  process.stderr.write(`filled ${TOTAL} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

  const rows: [string, string, string][] = [];
  const measure = async (label: string, path: string, check: (body: string) => void, n = 20) => {
    await call(path); // warm
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const r = await call(path);
      check(r.body);
      times.push(r.ms);
      bytes = r.bytes;
    }
    rows.push([
      `${label} (${(bytes / 1024).toFixed(0)} KiB)`,
      `${median(times).toFixed(1)} ms`,
      `${Math.max(...times).toFixed(1)} ms`,
    ]);
  };
  const lastBuild = String(Math.floor((TOTAL - 1) / 1000)).padStart(6, '0');
  const lastGroup = (Math.floor((TOTAL - 1) / 1000) % 20) + 1;
  const builds = (n: number) => (b: string) => {
    const groups = (JSON.parse(b) as { groups: { builds: unknown[] }[] }).groups;
    if (groups.length !== 20 || groups[0]?.builds.length !== n) throw new Error('unexpected overview');
  };
  await measure(
    'GET /api/v1/ui/overview (20 groups × 3 newest builds, the default)',
    '/api/v1/ui/overview',
    builds(3),
  );
  await measure(
    'GET /api/v1/ui/overview?builds=10 (20 groups × 10 builds)',
    '/api/v1/ui/overview?builds=10',
    builds(10),
  );
  await measure(
    'GET /api/v1/ui/overview?result=failed&distri=debian',
    '/api/v1/ui/overview?result=failed&distri=debian',
    (b) => {
      if ((JSON.parse(b) as { groups: unknown[] }).groups.length !== 20)
        throw new Error('unexpected filtered overview');
    },
  );
  await measure(
    'GET /api/v1/ui/overview?version=13 (no match)',
    '/api/v1/ui/overview?version=13',
    () => undefined,
  );
  await measure(
    `GET /api/v1/ui/build (1,000 jobs)`,
    `/api/v1/ui/build?build=${lastBuild}&group_id=${lastGroup}`,
    (b) => {
      if ((JSON.parse(b) as { jobs: unknown[] }).jobs.length !== 1000) throw new Error('unexpected build');
    },
  );
  await measure('GET /api/v1/ui/jobs/:id (20 modules × 30 steps)', `/api/v1/ui/jobs/${jobId}`, (b) => {
    if ((JSON.parse(b) as { modules: unknown[] }).modules.length !== 20)
      throw new Error('unexpected job page');
  });
  await measure('GET /tests/:id (the page HTML)', `/tests/${jobId}`, (b) => {
    if (!b.includes('<main')) throw new Error('no page');
  });

  const params: unknown[] = [10];
  const sqlStart = performance.now();
  await overview(database.query, {});
  process.stderr.write(`overview query alone: ${(performance.now() - sqlStart).toFixed(1)} ms\n`);
  const plan = await database.query<{ 'QUERY PLAN': string }>(
    `explain (analyze, buffers off, costs off)
     select b.build from job_groups g cross join lateral (
       with recursive b(build, n) as (
         (select j.build, 1 from jobs j where j.group_id = g.id order by j.build desc limit 1)
         union all
         select (select j.build from jobs j where j.group_id = g.id and j.build < b.build order by j.build desc limit 1), b.n + 1
           from b where b.build is not null and b.n < $1)
       select build from b where build is not null) b`,
    params,
  );
  process.stdout.write(
    `\n-- newest builds per group (skip scan)\n${plan.map((p) => p['QUERY PLAN']).join('\n')}\n`,
  );
  process.stdout.write(
    `\nat ${TOTAL.toLocaleString('en')} jobs\n| request | median | max |\n|---|---|---|\n`,
  );
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
