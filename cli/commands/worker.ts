// `kubeqa worker run-job`: run one scheduled job for kubeqa's API. It reads the job's settings
// from the API, resolves its assets to local files, runs it (runJob) in a work directory and
// reports everything through the runner API with the job's token (api-reporter.ts). Pods
// (operator/pods/build-pod.ts) and the local executor (operator/executors/local.ts) both run it.
//
// SIGTERM/SIGINT stop the job cleanly (QEMU is shut down) and end it incomplete with a reason
// the scheduler knows as transient; a 409 from the API (the job was cancelled or stopped there)
// stops it the same way without reporting anything more.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isKubeqaError } from '../../domain/errors.js';
import { packageRoot } from '../../runtime/package-root.js';
import { LocalStore } from '../../runtime/storage/local-store.js';
import { encodePng } from '../../worker-image/needles/png.js';
import { ApiReporter, JobStopped } from '../../worker-image/runner/api-reporter.js';
import { LivePush } from '../../worker-image/runner/live-push.js';
import { resolveJobSettings } from '../../worker-image/runner/resolve-assets.js';
import { runJob } from '../../worker-image/runner/run-job.js';
import { type AssetSupply, apiAssetStates, stageAssets } from '../../worker-image/runner/stage-assets.js';
import type { Command } from '../command.js';

const HELP = `usage: kubeqa worker run-job [--api URL] [--job ID]… [--work-dir DIR] [--asset-dir DIR]

Runs a job of kubeqa's scheduler on this machine and reports it to the API; several --job run
one after the other (a directly chained sequence that the scheduler gave one slot).
  --api        kubeqa's URL (default $KUBEQA_API_URL)
  --job        the job's id (default $KUBEQA_JOB_ID); repeat it for a sequence
  --work-dir   where QEMU runs and results are written (default $KUBEQA_WORK_DIR or ./kubeqa-job-<id>;
               with several jobs, DIR/job-<id>)
  --asset-dir  local assets in openQA's layout: DIR/iso, DIR/hdd, DIR/other (default $KUBEQA_ASSET_DIR)
The job's token comes from the environment: KUBEQA_JOB_TOKEN, or KUBEQA_JOB_TOKEN_<id> per job.

Exit code: 0 when the job's end was reported (whatever its result) or the API had already ended
it; 1 when it could not be reported; 2 for bad arguments.
`;

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run a scheduled job for the API (worker run-job; used by pods and the local executor)',
  async run(args) {
    const [sub, ...rest] = args;
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
      process.stdout.write(HELP);
      return sub ? 0 : 2;
    }
    if (sub !== 'run-job') {
      process.stderr.write(`kubeqa worker: unknown sub-command '${sub}'\n\n${HELP}`);
      return 2;
    }
    const { values } = parseArgs({
      args: rest,
      options: {
        api: { type: 'string' },
        job: { type: 'string', multiple: true },
        'work-dir': { type: 'string' },
        'asset-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const env = process.env;
    const apiUrl = values.api ?? env.KUBEQA_API_URL;
    // several --job: a directly chained sequence in one pod, run in this order; each job's token
    // is in KUBEQA_JOB_TOKEN_<id> (KUBEQA_JOB_TOKEN for a single job)
    const jobTexts = values.job ?? (env.KUBEQA_JOB_ID ? [env.KUBEQA_JOB_ID] : []);
    const bad = (message: string) => {
      process.stderr.write(`kubeqa worker run-job: KQ_ERR_INVALID_ARGUMENT: ${message}\n`);
      return 2;
    };
    if (!apiUrl || !/^https?:\/\//.test(apiUrl))
      return bad('--api (or KUBEQA_API_URL) must be http(s)://host:port');
    const jobIds = jobTexts.map(Number);
    if (jobIds.length === 0 || jobIds.some((id) => !Number.isSafeInteger(id) || id <= 0))
      return bad('--job (or KUBEQA_JOB_ID) must be a job id');
    const tokens = jobIds.map(
      (id) => env[`KUBEQA_JOB_TOKEN_${id}`] ?? (jobIds.length === 1 ? env.KUBEQA_JOB_TOKEN : undefined) ?? '',
    );
    const missing = jobIds.filter((_, i) => !tokens[i]);
    if (missing.length > 0)
      return bad(
        jobIds.length === 1
          ? 'KUBEQA_JOB_TOKEN is not set (the token issued for the job)'
          : `KUBEQA_JOB_TOKEN_<id> is not set for job ${missing.join(', ')} (the token issued for each job)`,
      );
    const assetDir = values['asset-dir'] ?? env.KUBEQA_ASSET_DIR;
    const baseDir = values['work-dir'] ?? env.KUBEQA_WORK_DIR;
    let code = 0;
    for (const [i, jobId] of jobIds.entries()) {
      const workDir = resolve(
        jobIds.length === 1 ? (baseDir ?? `kubeqa-job-${jobId}`) : join(baseDir ?? '.', `job-${jobId}`),
      );
      mkdirSync(workDir, { recursive: true });
      const token = tokens[i] as string;
      const result = await runOneJob({
        apiUrl,
        jobId,
        token,
        workDir,
        ...(assetDir ? { assetDir: resolve(assetDir) } : {}),
      });
      code = Math.max(code, result);
    }
    return code;
  },
};

interface RunOneJob {
  apiUrl: string;
  jobId: number;
  token: string;
  workDir: string;
  assetDir?: string;
}

async function runOneJob(o: RunOneJob): Promise<number> {
  const say = (line: string) =>
    process.stdout.write(`[${new Date().toISOString()}] job ${o.jobId}: ${line}\n`);
  const controller = new AbortController();
  let signalled: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled ??= signal;
    say(`${signal}: stopping the job`);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const reporter = new ApiReporter({
    apiUrl: o.apiUrl,
    jobId: o.jobId,
    token: o.token,
    resultDir: o.workDir,
    log: say,
    onStopped: () => controller.abort(),
  });
  let live: LivePush | undefined;
  try {
    await reporter.setState('setup');
    let settings: Record<string, string>;
    try {
      const jobSettings = await reporter.jobSettings();
      // assets: wait while they are imported (the reason shows on the job), then take them from
      // the pod's cache sidecar or the local asset directory
      const supply: AssetSupply | undefined = process.env.KUBEQA_CACHE_SOCKET
        ? { kind: 'sidecar', endpoint: { socket: process.env.KUBEQA_CACHE_SOCKET } }
        : o.assetDir
          ? { kind: 'local', store: new LocalStore(o.assetDir) }
          : undefined;
      const staged = supply
        ? await stageAssets({
            job: o.jobId,
            settings: jobSettings,
            supply,
            states: apiAssetStates({ apiUrl: o.apiUrl }),
            onWaiting: async (reason) => {
              say(reason);
              await reporter.setReason(reason);
            },
            signal: controller.signal,
          })
        : [];
      settings = resolveJobSettings(jobSettings, {
        packageRoot: packageRoot(),
        staged,
        ...(o.assetDir ? { assetDir: o.assetDir } : {}),
      });
    } catch (error) {
      if (!isKubeqaError(error) || error.code === 'KQ_ERR_UNREACHABLE') throw error;
      say(`cannot prepare the job: ${error.message}`);
      await reporter.setDone('incomplete', `asset failure: ${error.message}`);
      return 0;
    }
    say(`running in ${o.workDir}`);
    // the live view: the screen, the current step and new serial lines, pushed to the server
    live = new LivePush({
      url: o.apiUrl,
      jobId: o.jobId,
      token: o.token,
      encode: (frame) => encodePng(frame, 1),
      serialLog: join(o.workDir, 'serial0.txt'),
      onJobGone: () => controller.abort(),
      log: say,
    });
    const push = live;
    const result = await runJob({
      settings,
      resultDir: o.workDir,
      signal: controller.signal,
      onMachine: (machine) => push.attach(machine.vnc),
      onProgress: (event) => {
        reporter.onProgress(event);
        push.progress(event);
        if (event.type === 'module-end') say(`${event.name}: ${event.result}`);
      },
    });
    await push.stop();
    if (reporter.stopped) {
      say('the job was stopped on the server; QEMU is shut down');
      return 0;
    }
    say(`result: ${result.result}${result.reason ? ` (${result.reason})` : ''}`);
    if (signalled) {
      await reporter.finish({
        ...result,
        result: 'incomplete',
        reason: `terminated prematurely: the runner got ${signalled}`,
      });
    } else {
      await reporter.finish(result);
    }
    say('reported');
    return 0;
  } catch (error) {
    if (error instanceof JobStopped) {
      say('the job was stopped on the server');
      return 0;
    }
    const message = isKubeqaError(error)
      ? `${error.code}: ${error.message}`
      : ((error as Error).stack ?? String(error));
    process.stderr.write(`kubeqa worker run-job: ${message}\n`);
    return 1;
  } finally {
    await live?.stop();
    reporter.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
