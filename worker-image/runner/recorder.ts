// Writes a job's results in os-autoinst's layout:
//   <resultDir>/autoinst-log.txt, vars.json, serial0.txt, video.webm, ulogs/, job-result.json
//   <resultDir>/testresults/result-<module>.json, test_order.json, <module>-<n>.png|txt
// Screenshots are deduplicated by a hash of their pixels: an identical screen is written once
// and later steps refer to the same file.
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame } from '../../domain/needles/types.js';
import {
  foldStepResult,
  type ModuleFlags,
  type ModuleResultFile,
  type ModuleResultName,
  type StepDetail,
  type TestOrderEntry,
} from '../../domain/runner/results.js';
import type { JobSettings } from '../../domain/runner/settings.js';

/** Settings whose value must not appear in results or logs (openQA hides _SECRET_ variables). */
export function isSecretSetting(key: string): boolean {
  return /^_SECRET_|PASSWORD|SECRET|TOKEN|APIKEY|API_KEY/i.test(key);
}

export function redactSettings(settings: JobSettings): JobSettings {
  const out: JobSettings = {};
  for (const [key, value] of Object.entries(settings)) out[key] = isSecretSetting(key) ? '[redacted]' : value;
  return out;
}

export type ProgressEvent =
  | { type: 'log'; line: string }
  | { type: 'module-start'; name: string; category: string; index: number; total: number }
  | { type: 'module-end'; name: string; result: ModuleResultName; seconds: number }
  | { type: 'step'; module: string; detail: StepDetail };

export class JobLog {
  private readonly file: string;
  constructor(
    resultDir: string,
    private readonly onEvent: (event: ProgressEvent) => void = () => undefined,
  ) {
    this.file = join(resultDir, 'autoinst-log.txt');
  }

  line(message: string): void {
    const text = `[${new Date().toISOString()}] ${message}`;
    appendFileSync(this.file, `${text}\n`);
    this.onEvent({ type: 'log', line: message });
  }

  event(event: ProgressEvent): void {
    this.onEvent(event);
  }
}

export type EncodeFrame = (frame: Frame) => Buffer;

export class ResultStore {
  readonly testresults: string;
  readonly ulogs: string;
  private readonly byHash = new Map<string, string>();

  constructor(readonly resultDir: string) {
    this.testresults = join(resultDir, 'testresults');
    this.ulogs = join(resultDir, 'ulogs');
    mkdirSync(this.testresults, { recursive: true });
    mkdirSync(this.ulogs, { recursive: true });
  }

  /** The file name of this screen: a new one, or the one an identical screen already has. */
  screenshot(frame: Frame, proposedName: string, encode: EncodeFrame): string {
    const hash = createHash('sha256')
      .update(`${frame.width}x${frame.height}x${frame.channels}`)
      .update(frame.data)
      .digest('hex');
    const existing = this.byHash.get(hash);
    if (existing) return existing;
    writeFileSync(join(this.testresults, proposedName), encode(frame));
    this.byHash.set(hash, proposedName);
    return proposedName;
  }

  writeText(name: string, text: string): void {
    writeFileSync(join(this.testresults, name), text);
  }

  writeJson(relativePath: string, value: unknown): void {
    writeFileSync(join(this.resultDir, relativePath), `${JSON.stringify(value, null, 2)}\n`);
  }

  writeTestOrder(entries: TestOrderEntry[]): void {
    this.writeJson('testresults/test_order.json', entries);
  }
}

/** The steps of one module as it runs. */
export class ModuleRecorder {
  readonly details: StepDetail[] = [];
  result: ModuleResultName | undefined;
  dents = 0;
  private count = 0;
  private readonly started = Date.now();
  executionTime = 0;

  constructor(
    readonly name: string,
    readonly flags: ModuleFlags,
    private readonly store: ResultStore,
    private readonly onStep: (detail: StepDetail) => void = () => undefined,
  ) {}

  nextName(ext: string): string {
    this.count++;
    return `${this.name}-${this.count}.${ext}`;
  }

  add(detail: StepDetail): StepDetail {
    this.details.push(detail);
    this.result = foldStepResult(this.result, detail.result);
    if (detail.dent) this.dents++;
    this.onStep(detail);
    return detail;
  }

  /** A text result (wait_serial, record_info, soft failure, "Test died"). */
  text(
    title: string,
    text: string,
    result: StepDetail['result'],
    extra: Partial<StepDetail> = {},
  ): StepDetail {
    const file = this.nextName('txt');
    this.store.writeText(file, text);
    return this.add({ title, text: file, result, ...extra });
  }

  finish(fallback: ModuleResultName): ModuleResultFile {
    this.executionTime = Math.round((Date.now() - this.started) / 1000);
    const result = this.result ?? fallback;
    this.result = result;
    const file: ModuleResultFile = {
      details: this.details,
      result,
      dents: this.dents,
      execution_time: this.executionTime,
    };
    this.store.writeJson(`testresults/result-${this.name}.json`, file);
    return file;
  }
}
