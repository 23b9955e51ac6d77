// One job, start to end: resolve the test distribution, load schedule, modules and needles, start
// the machine, run every module through the test API, write the results in openQA's layout, stop
// everything, and compute the overall result. Whatever happens, QEMU and ffmpeg are gone when
// runJob returns, and job-result.json says what happened (with a reason when incomplete).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isKubeqaError } from '../../domain/errors.js';
import type { Needle } from '../../domain/needles/types.js';
import {
  type JobResultFile,
  type ModuleFlags,
  type ModuleResultName,
  overallResult,
  stopsAfterFailure,
  type TestOrderEntry,
} from '../../domain/runner/results.js';
import {
  boolSetting,
  type JobSettings,
  numberSetting,
  qemuConfig,
  timeoutScale,
} from '../../domain/runner/settings.js';
import { type Machine, startMachine } from '../qemu/machine.js';
import type { ScreenDemand } from '../vnc/client.js';
import { type LoadedModule, loadModule, loadSchedule, resolveSource } from './distribution.js';
import { type Matcher, type NeedleApi, needleApi } from './needle-port.js';
import { JobLog, ModuleRecorder, type ProgressEvent, ResultStore, redactSettings } from './recorder.js';
import { BackendDied, RunnerApi, TestFailure } from './testapi.js';
import { VIDEO_FPS, VideoRecorder } from './video.js';

export interface RunJobOptions {
  settings: JobSettings;
  resultDir: string;
  onProgress?: (event: ProgressEvent) => void;
  /** Abort (cancel) the job: the current module is interrupted and the job ends user_cancelled. */
  signal?: AbortSignal;
  /** Called once the machine runs (e.g. live-push.ts attaches to its screen). */
  onMachine?: (machine: Machine) => void;
}

type Abort = { result: 'incomplete' | 'timeout_exceeded' | 'user_cancelled'; reason: string };

export async function runJob(options: RunJobOptions): Promise<JobResultFile> {
  const started = new Date();
  const settings: JobSettings = { ...options.settings };
  mkdirSync(options.resultDir, { recursive: true });
  const store = new ResultStore(options.resultDir);
  const log = new JobLog(options.resultDir, options.onProgress);
  store.writeJson('vars.json', redactSettings(settings));
  const moduleResults: { name: string; category: string; result: ModuleResultName; flags: ModuleFlags }[] =
    [];
  let abort: Abort | undefined;
  let machine: Machine | undefined;
  let video: VideoRecorder | undefined;
  let matcher: Matcher | undefined;
  let backendDied: string | undefined;
  let videoDemand: ScreenDemand | undefined;
  let testapiRef: RunnerApi | undefined;

  const finish = async (): Promise<JobResultFile> => {
    videoDemand?.release();
    if (machine) {
      // what watching the screen cost: requests, updates and bytes over VNC, and needle checks
      const st = machine.vnc.stats;
      log.line(
        `screen: ${st.requests} update requests, ${st.updates} updates, ${(st.bytes / 1e6).toFixed(1)} MB; ${testapiRef?.checks ?? 0} needle checks`,
      );
    }
    if (video) {
      const ok = await video.stop().catch(() => false);
      log.line(ok ? 'video.webm written' : 'video.webm could not be written');
    }
    if (machine) await machine.stop().catch((error: Error) => log.line(`stopping QEMU: ${error.message}`));
    await Promise.resolve(matcher?.close()).catch(() => undefined);
    const overall = overallResult(moduleResults, abort);
    const file: JobResultFile = {
      result: overall.result,
      ...(overall.reason ? { reason: overall.reason } : {}),
      modules: moduleResults,
      started: started.toISOString(),
      finished: new Date().toISOString(),
      ...(machine ? { accelerator: machine.accel } : {}),
    };
    store.writeJson('job-result.json', file);
    log.line(`result: ${file.result}${file.reason ? ` (${file.reason})` : ''}`);
    return file;
  };

  let modules: LoadedModule[] = [];
  let needles: Needle[] = [];
  let api: NeedleApi | undefined;
  try {
    qemuConfig(settings); // validate machine settings before anything else
    const scale = timeoutScale(settings);
    const casedirSpec = settings.CASEDIR;
    if (!casedirSpec) {
      abort = { result: 'incomplete', reason: 'the job has no CASEDIR setting (the test distribution)' };
      return await finish();
    }
    const casedir = await resolveSource('CASEDIR', casedirSpec, (l) => log.line(l));
    const scheduled = await loadSchedule(casedir, settings);
    log.line(`schedule: ${scheduled.map((m) => `${m.category}/${m.name}`).join(', ')}`);
    modules = [];
    for (const entry of scheduled) modules.push(await loadModule(entry));
    store.writeTestOrder(
      modules.map(
        (m): TestOrderEntry => ({ name: m.name, category: m.category, script: m.script, flags: m.flags }),
      ),
    );
    const needlesSpec =
      settings.NEEDLES_DIR ?? (existsSync(join(casedir, 'needles')) ? join(casedir, 'needles') : undefined);
    api = await needleApi();
    if (needlesSpec) {
      const dir = await resolveSource('NEEDLES_DIR', needlesSpec, (l) => log.line(l));
      if (!api) {
        log.line(`needles in ${dir} not loaded: this build has no needle matcher`);
      } else {
        needles = await api.loadNeedleDir(dir);
        log.line(`needles: ${needles.length} from ${dir}`);
      }
    }
    // The matcher's worker thread loads OpenCV and the needle images while QEMU starts (about a
    // second of CPU, and the guest shows nothing for seconds anyway); the first check needs them,
    // so they are awaited before the first test module runs.
    let preloaded: Promise<void> | undefined;
    if (api) {
      matcher = api.createMatcher();
      if (needles.length > 0) preloaded = matcher.preload(needles);
      // awaited below; until then a failure of QEMU's start must not leave it unhandled
      preloaded?.catch(() => undefined);
    }

    const maxJobTime = numberSetting(settings, 'MAX_JOB_TIME', 7200, 1) * 1000;
    const jobDeadline = Date.now() + maxJobTime;
    machine = await startMachine({
      settings,
      workDir: options.resultDir,
      serialLog: join(options.resultDir, 'serial0.txt'),
      log: (l) => log.line(l),
      onUnexpectedExit: (why) => {
        backendDied = why;
        log.line(why);
      },
    });
    await preloaded;
    const m = machine;
    options.onMachine?.(m);
    if (!boolSetting(settings, 'NOVIDEO')) {
      const cfg = machine.config;
      video = new VideoRecorder(join(options.resultDir, 'video.webm'), cfg.xres, cfg.yres, () =>
        m.vnc.frame(),
      );
      video.start();
      // the video wants a current screen for each of its frames
      videoDemand = m.vnc.demand(1000 / VIDEO_FPS);
    }
    const ctx = {
      machine,
      settings,
      scale,
      log,
      store,
      needles,
      needleApi: api,
      matcher,
      video,
      backendDied: () => backendDied,
      poweredOff: false,
    };
    const testapi = new RunnerApi(ctx);
    testapiRef = testapi;

    let fatalReason: string | undefined;
    for (const [index, module] of modules.entries()) {
      if (abort) {
        moduleResults.push({
          name: module.name,
          category: module.category,
          result: 'canceled',
          flags: module.flags,
        });
        continue;
      }
      if (fatalReason && !module.flags.always_run) {
        log.line(`skipping ${module.category}/${module.name} (${fatalReason})`);
        moduleResults.push({
          name: module.name,
          category: module.category,
          result: 'skip',
          flags: module.flags,
        });
        new ModuleRecorder(module.name, module.flags, store).finish('skip');
        continue;
      }
      log.event({
        type: 'module-start',
        name: module.name,
        category: module.category,
        index,
        total: modules.length,
      });
      log.line(`starting ${module.category}/${module.name} (${module.script})`);
      const recorder = new ModuleRecorder(module.name, module.flags, store, (detail) =>
        log.event({ type: 'step', module: module.name, detail }),
      );
      testapi.setRecorder(recorder);
      const outcome = await runModule(
        module,
        testapi,
        recorder,
        jobDeadline,
        options.signal,
        () => backendDied,
      );
      const file = recorder.finish(outcome.error ? 'fail' : 'ok');
      moduleResults.push({
        name: module.name,
        category: module.category,
        result: file.result,
        flags: module.flags,
      });
      log.event({ type: 'module-end', name: module.name, result: file.result, seconds: file.execution_time });
      log.line(`finished ${module.category}/${module.name}: ${file.result} (${file.execution_time} s)`);
      if (outcome.abort) {
        abort = outcome.abort;
        continue;
      }
      if (file.result === 'fail' && stopsAfterFailure(module.flags)) {
        fatalReason =
          module.flags.fatal === true
            ? 'after a fatal test failure'
            : 'after a failure: snapshots are not available and "fatal: false" is not set';
      }
    }
    return await finish();
  } catch (error) {
    const message = isKubeqaError(error) ? error.message : ((error as Error).stack ?? String(error));
    abort = { result: 'incomplete', reason: message };
    log.line(`job aborted: ${message}`);
    return await finish();
  }
}

/** Run one module with its post_fail_hook; report a test failure or a reason to abort the job. */
async function runModule(
  module: LoadedModule,
  testapi: RunnerApi,
  recorder: ModuleRecorder,
  jobDeadline: number,
  signal: AbortSignal | undefined,
  backendDied: () => string | undefined,
): Promise<{ error?: Error; abort?: Abort }> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const interrupt = new Promise<Abort>((resolve) => {
    timer = setTimeout(
      () => resolve({ result: 'timeout_exceeded', reason: 'the job ran longer than MAX_JOB_TIME' }),
      Math.max(0, jobDeadline - Date.now()),
    );
    onAbort = () => resolve({ result: 'user_cancelled', reason: 'the job was cancelled' });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  const cleanup = () => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  };
  const race = async (work: () => Promise<void> | void): Promise<{ error?: Error; abort?: Abort }> => {
    try {
      const outcome = await Promise.race([
        Promise.resolve()
          .then(work)
          .then(() => ({})),
        interrupt.then((abort) => ({ abort })),
      ]);
      return outcome;
    } catch (error) {
      return { error: error as Error };
    }
  };
  try {
    const outcome = await race(() => module.module.run(testapi));
    if (outcome.abort) {
      recorder.text('Aborted', `# ${outcome.abort.reason}\n`, 'fail');
      return outcome;
    }
    if (!outcome.error) return {};
    const error = outcome.error;
    if (error instanceof BackendDied || backendDied()) {
      recorder.text('Failed', `# Test died: ${error.message}\n`, 'fail');
      return { error, abort: { result: 'incomplete', reason: backendDied() ?? error.message } };
    }
    if (!(error instanceof TestFailure)) {
      // Like os-autoinst: a die in test code is a failure of the module, with its message.
      recorder.text('Failed', `# Test died: ${error.stack ?? error.message}\n`, 'fail');
    }
    await testapi.failureScreenshot();
    if (module.module.post_fail_hook) {
      const hook = module.module.post_fail_hook.bind(module.module);
      const hookOutcome = await race(() => hook(testapi));
      if (hookOutcome.error)
        recorder.text('post_fail_hook', `# post_fail_hook failed: ${hookOutcome.error.message}\n`, 'unk');
      if (hookOutcome.abort) return { error, abort: hookOutcome.abort };
    }
    if (recorder.result !== 'fail') recorder.add({ result: 'fail' });
    return { error };
  } finally {
    cleanup();
  }
}
