// `kubeqa run`: one job on this machine, from settings (KEY=VALUE arguments and/or a JSON file),
// into a result directory in openQA's layout, with live progress. Exit code 0 only when the job
// passed or soft-failed.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeqaError } from '../../domain/errors.js';
import { exitCodeFor } from '../../domain/runner/results.js';
import type { JobSettings } from '../../domain/runner/settings.js';
import type { ProgressEvent } from '../../worker-image/runner/recorder.js';
import { runJob } from '../../worker-image/runner/run-job.js';
import type { Command } from '../command.js';

const HELP = `usage: kubeqa run [--result-dir DIR] [--quiet] [settings.json] KEY=VALUE…

Runs one test job locally: boots the system under test in QEMU, runs the test distribution
(CASEDIR) and writes the results in openQA's layout into the result directory.

  settings.json   a JSON object of settings; KEY=VALUE arguments override it
  KEY=VALUE       job settings, e.g. CASEDIR=examples/busybox ISO=… QEMUCPUS=2 TIMEOUT_SCALE=2
  --result-dir    where results go (default ./results/<TEST or job>-<time>)
  --quiet         no live progress (the result line only)

Exit code: 0 when the job passed or soft-failed, 1 otherwise, 2 for bad arguments.
See docs/runner.md for the settings and the test distribution format.
`;

const KEY = /^[A-Z_][A-Z0-9_]*$/;

/** Settings from a JSON file and KEY=VALUE arguments (later ones win). Pure apart from reading the file. */
export function parseSettingsArgs(
  positionals: string[],
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): JobSettings {
  const settings: JobSettings = {};
  for (const arg of positionals) {
    const eq = arg.indexOf('=');
    if (eq > 0) {
      const key = arg.slice(0, eq);
      if (!KEY.test(key)) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `'${key}' is not a setting name`,
          'settings are upper case: KEY=VALUE, e.g. QEMUCPUS=2',
        );
      }
      settings[key] = arg.slice(eq + 1);
      continue;
    }
    if (arg.endsWith('.json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFile(arg));
      } catch (error) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `cannot read settings from ${arg}: ${(error as Error).message}`,
          'give a JSON object of settings',
        );
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `${arg} is not a JSON object of settings`,
          'write it as {"CASEDIR": "…", "ISO": "…"}',
        );
      }
      for (const [key, value] of Object.entries(parsed)) {
        if (!KEY.test(key))
          throw new KubeqaError(
            'KQ_ERR_INVALID_ARGUMENT',
            `${arg}: '${key}' is not a setting name`,
            'settings are upper case',
          );
        if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
          throw new KubeqaError(
            'KQ_ERR_INVALID_ARGUMENT',
            `${arg}: setting ${key} must be a string or number`,
            'settings are plain values',
          );
        }
        settings[key] = String(value);
      }
      continue;
    }
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `unexpected argument '${arg}'`,
      'give settings as KEY=VALUE or a settings .json file',
    );
  }
  return settings;
}

/** Settings that name files are resolved against the current directory (QEMU runs elsewhere). */
export function absolutePaths(settings: JobSettings, cwd: string): JobSettings {
  const out = { ...settings };
  for (const key of Object.keys(out)) {
    const value = out[key];
    if (!value) continue;
    const isPath = /^(ISO|KERNEL|INITRD|HDD_\d+|UEFI_PFLASH_CODE|UEFI_PFLASH_VARS)$/.test(key);
    const isSource = key === 'CASEDIR' || key === 'NEEDLES_DIR';
    if (isPath || (isSource && !/^[a-z]+:\/\/|^[\w.-]+@/.test(value) && !/\.git(#|$)/.test(value))) {
      out[key] = resolve(cwd, value);
    }
  }
  return out;
}

function progressPrinter(write: (line: string) => void): (event: ProgressEvent) => void {
  const started = Date.now();
  const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
  return (event) => {
    switch (event.type) {
      case 'module-start':
        write(`${stamp()}  [${event.index + 1}/${event.total}] ${event.category}/${event.name}`);
        break;
      case 'module-end':
        write(`${stamp()}  ${event.name}: ${event.result} (${event.seconds} s)`);
        break;
      case 'step':
        if (event.detail.result === 'fail' || event.detail.result === 'softfail') {
          const what = event.detail.needle ?? event.detail.title ?? event.detail.tags?.join(' ') ?? 'step';
          write(`${stamp()}    ${event.detail.result}: ${what}`);
        }
        break;
      case 'log':
        if (/^(starting|finished) \S+\/\S+/.test(event.line)) break; // shown as module lines
        write(`${stamp()}    ${event.line.length > 200 ? `${event.line.slice(0, 200)}…` : event.line}`);
        break;
    }
  };
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run one test job locally (QEMU + test distribution) into a result directory',
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        'result-dir': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    let settings: JobSettings;
    try {
      settings = absolutePaths(parseSettingsArgs(positionals), process.cwd());
    } catch (error) {
      if (error instanceof KubeqaError) {
        process.stderr.write(`kubeqa run: ${error.code}: ${error.message}\n`);
        return 2;
      }
      throw error;
    }
    if (!settings.CASEDIR) {
      process.stderr.write(
        `kubeqa run: KQ_ERR_INVALID_ARGUMENT: the job needs CASEDIR=<test distribution>\n\n${HELP}`,
      );
      return 2;
    }
    const name = (settings.TEST ?? 'job').replace(/[^\w.-]/g, '_');
    const resultDir = resolve(
      values['result-dir'] ?? join('results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    );
    if (existsSync(join(resultDir, 'job-result.json'))) {
      process.stderr.write(
        `kubeqa run: KQ_ERR_CONFLICT: ${resultDir} already holds a job's results; choose another --result-dir\n`,
      );
      return 2;
    }
    const write = (line: string) => process.stdout.write(`${line}\n`);
    write(`kubeqa run: results in ${resultDir}`);
    const controller = new AbortController();
    const cancel = () => {
      write('cancelling…');
      controller.abort();
    };
    process.once('SIGINT', cancel);
    process.once('SIGTERM', cancel);
    try {
      const result = await runJob({
        settings,
        resultDir,
        signal: controller.signal,
        ...(values.quiet ? {} : { onProgress: progressPrinter(write) }),
      });
      write(`result: ${result.result}${result.reason ? ` — ${result.reason}` : ''}`);
      for (const m of result.modules) write(`  ${m.category}/${m.name}: ${m.result}`);
      return exitCodeFor(result.result);
    } finally {
      process.off('SIGINT', cancel);
      process.off('SIGTERM', cancel);
    }
  },
};
