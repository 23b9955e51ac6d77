// `kubeqa worker run-job` as the executors run it: a child process with the job's token in its
// environment, against the real API on real PostgreSQL, booting the busybox guest under TCG.
// The job's assets come from a local asset directory (openQA's layout) and its CASEDIR from the
// demo distribution inside the package; results land through the runner API.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeJobStates } from '../../db/jobs.js';
import { issueJobToken } from '../../db/results.js';
import { type Json, startServer, type TestServer } from '../api/server.js';
import { busyboxAssetDir, busyboxSettings, processesIn } from '../helpers/busybox-jobs.js';
import { assignedJob, isRunning, jobReaches } from '../helpers/jobs.js';
import { kubeqaCli } from '../helpers/kubeqa-cli.js';

let s: TestServer;
const work = mkdtempSync(join(tmpdir(), 'kubeqa-worker-test-'));
const assets = join(work, 'assets');

beforeAll(async () => {
  s = await startServer('runner_worker');
  await busyboxAssetDir(assets);
});
afterAll(async () => {
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

/** An assigned job and the token its runner gets. */
async function jobWithToken(settings: Record<string, string>): Promise<{ id: number; token: string }> {
  const id = await assignedJob(s, settings);
  return { id, token: await issueJobToken(s.database.query, id) };
}

/** A busybox job's run ends well within this; past it the runner is stopped and its output shown. */
const RUN_DEADLINE_MS = 240_000;
const RUN_TEST_TIMEOUT_MS = 300_000;

function runJobCli(id: number, token: string, extra: string[] = []) {
  return kubeqaCli(
    [
      'worker',
      'run-job',
      '--api',
      s.url,
      '--job',
      String(id),
      '--work-dir',
      join(work, `job-${id}`),
      ...extra,
    ],
    { ...process.env, KUBEQA_JOB_TOKEN: token },
    { deadlineMs: RUN_DEADLINE_MS },
  );
}

describe('kubeqa worker run-job', () => {
  it(
    'runs the busybox demo from the asset directory and reports it through the API',
    async () => {
      const { id, token } = await jobWithToken({ TEST: 'busybox', ...(await busyboxSettings()) });
      const run = await runJobCli(id, token, ['--asset-dir', assets]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(token);
      const job: Json = (await s.api('GET', `jobs/${id}/details`)).body.job;
      expect([job.state, job.result]).toEqual(['done', 'passed']);
      expect(job.testresults.map((m: Json) => [m.name, m.result])).toEqual([
        ['boot_to_shell', 'passed'],
        ['commands', 'passed'],
        ['poweroff', 'passed'],
      ]);
      const commands = job.testresults[1];
      expect(
        commands.details.some((d: Json) => d.type === 'screen' && /^[0-9a-f]{64}$/.test(d.screenshot)),
      ).toBe(true);
      expect(commands.details.find((d: Json) => d.title === 'kernel')?.text).toMatch(/^Linux /);
      const serial = await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/serial0.txt`);
      expect(serial.status).toBe(200);
      expect(await serial.text()).toContain('typed-42');
      const vars: Json = await (await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/vars.json`)).json();
      expect(vars.CASEDIR).toMatch(/examples\/busybox$/);
      expect(vars.KERNEL).toBe(join(assets, 'other', 'busybox-linux'));
      const transitions = await s.database.query<{ from_state: string; to_state: string }>(
        'select from_state, to_state from job_state_changes where job_id = $1 order by id',
        [id],
      );
      expect(transitions.map((t) => t.to_state)).toEqual([
        'assigned',
        'setup',
        'running',
        'uploading',
        'done',
      ]);
    },
    RUN_TEST_TIMEOUT_MS,
  );

  it(
    'runs a sequence of jobs in one call, each with its own token, going on past a stopped one',
    async () => {
      const settings = await busyboxSettings();
      const first = await jobWithToken({ TEST: 'seq-first', ...settings });
      const second = await jobWithToken({ TEST: 'seq-second', ...settings });
      // the scheduler skipped the second one meanwhile (as when its directly chained parent failed)
      await s.database.transaction((q) =>
        changeJobStates(q, [{ id: second.id, state: 'cancelled', result: 'skipped' }], 'scheduler'),
      );
      const dir = join(work, 'sequence');
      const args = [
        'worker',
        'run-job',
        '--api',
        s.url,
        '--job',
        String(first.id),
        '--job',
        String(second.id),
      ];
      const noTokens = await kubeqaCli([...args, '--work-dir', dir], {
        ...process.env,
        [`KUBEQA_JOB_TOKEN_${first.id}`]: first.token,
      });
      expect(noTokens.code).toBe(2);
      expect(noTokens.stderr).toContain(`KUBEQA_JOB_TOKEN_<id> is not set for job ${second.id}`);
      const run = await kubeqaCli(
        [...args, '--work-dir', dir, '--asset-dir', assets],
        {
          ...process.env,
          [`KUBEQA_JOB_TOKEN_${first.id}`]: first.token,
          [`KUBEQA_JOB_TOKEN_${second.id}`]: second.token,
        },
        { deadlineMs: RUN_DEADLINE_MS },
      );
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const one: Json = (await s.api('GET', `jobs/${first.id}`)).body.job;
      const two: Json = (await s.api('GET', `jobs/${second.id}`)).body.job;
      expect([one.state, one.result]).toEqual(['done', 'passed']);
      expect([two.state, two.result]).toEqual(['cancelled', 'skipped']);
      expect(readdirSync(dir).sort()).toEqual([`job-${first.id}`, `job-${second.id}`]);
    },
    RUN_TEST_TIMEOUT_MS,
  );

  it(
    'stops the job and QEMU when the API answers 409 (cancelled there), and exits 0',
    async () => {
      const { id, token } = await jobWithToken({ TEST: 'cancelled-on-server', ...(await busyboxSettings()) });
      const running = runJobCli(id, token, ['--asset-dir', assets]);
      await jobReaches(s.database, id, isRunning, 120_000);
      expect((await s.api('POST', `jobs/${id}/cancel`)).status).toBe(200);
      const run = await running;
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/409 .*stopping the job/);
      expect(run.stdout).toMatch(/stopped on the server/);
      const dir = join(work, `job-${id}`);
      expect(readFileSync(join(dir, 'autoinst-log.txt'), 'utf8')).toMatch(/result: user_cancelled/);
      const job: Json = (await s.api('GET', `jobs/${id}`)).body.job;
      expect([job.state, job.result]).toEqual(['cancelled', 'user_cancelled']);
      // nothing of the job is left running (QEMU ran in its directory)
      expect(processesIn(dir)).toEqual([]);
    },
    RUN_TEST_TIMEOUT_MS,
  );

  it('ends a job whose asset is missing incomplete, naming the asset', async () => {
    const { id, token } = await jobWithToken({ TEST: 'no-asset', DISTRI: 'busybox', ISO: 'missing.iso' });
    const run = await runJobCli(id, token, ['--asset-dir', assets]);
    expect(run.code, run.stderr).toBe(0);
    const job: Json = (await s.api('GET', `jobs/${id}`)).body.job;
    expect([job.state, job.result]).toEqual(['done', 'incomplete']);
    expect(job.reason).toMatch(
      /^asset failure: asset iso\/missing.iso does not exist in local directory .*assets \(import it first/,
    );
  });

  it('refuses bad arguments and a wrong token clearly', async () => {
    const noToken = await kubeqaCli(['worker', 'run-job', '--api', s.url, '--job', '1'], {
      ...process.env,
      KUBEQA_JOB_TOKEN: '',
    });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/KUBEQA_JOB_TOKEN is not set/);
    const badJob = await kubeqaCli(['worker', 'run-job', '--api', s.url, '--job', 'x'], {
      ...process.env,
      KUBEQA_JOB_TOKEN: 't',
    });
    expect(badJob.code).toBe(2);
    const { id } = await jobWithToken({ TEST: 'wrong-token', DISTRI: 'busybox' });
    const wrong = await runJobCli(id, 'wrong-token-abcdef');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/KQ_ERR_UNAUTHORIZED/);
    expect(wrong.stderr + wrong.stdout).not.toContain('wrong-token-abcdef');
  });
});
