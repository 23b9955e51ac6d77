// The runner's client of the runner API (webui/api/runner.ts, docs/api.md): it reports the job's
// state (setup → running → uploading) with per-module progress as runJob produces it, uploads
// the result files deduplicated by hash (link by hash first, send the bytes only when the server
// does not have them), and ends the job with set_done.
//
// Network errors and 5xx answers are retried with a doubling delay for a bounded time. A 409
// means the job is already over on the server (cancelled, timed out, stopped with its cluster):
// the reporter calls onStopped once and every later call fails with JobStopped, so the caller
// aborts runJob (which shuts QEMU down) and exits. The token travels only in the
// X-Kubeqa-Job-Token header; it is never part of a log line or an error message.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { KubeqaError } from '../../domain/errors.js';
import type { JobResultFile, ModuleResultFile, TestOrderEntry } from '../../domain/runner/results.js';
import type { ModuleStatus } from '../../domain/runner/status.js';
import { isTransientStatus, type RetryOptions, withRetry } from '../../runtime/storage/retry.js';
import type { ProgressEvent } from './recorder.js';
import { apiModuleResult, isResultFile, moduleFlags, statusSteps } from './report-status.js';

/** The server no longer takes reports for this job (HTTP 409): stop working on it. */
export class JobStopped extends Error {
  constructor(
    readonly jobId: number,
    detail: string,
  ) {
    super(`job ${jobId} is over on the server: ${detail}`);
    this.name = 'JobStopped';
  }
}

/** How the reporter retries (runtime/storage/retry.ts): delays, and how long it keeps trying. */
export type ReportRetry = Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'> & { budgetMs: number };

export const DEFAULT_REPORT_RETRY: ReportRetry = {
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  budgetMs: 5 * 60_000,
};

/** One attempt that failed in a way worth another (network error, server-side status). */
class AttemptFailed extends Error {}

export interface ApiReporterOptions {
  /** kubeqa's base URL (http://host:port, with or without /api/v1). */
  apiUrl: string;
  jobId: number;
  /** The per-job token (KUBEQA_JOB_TOKEN). */
  token: string;
  resultDir: string;
  log?: (line: string) => void;
  retry?: Partial<ReportRetry>;
  /** Called once when the server answers 409 (the job was stopped or cancelled). */
  onStopped?: (error: JobStopped) => void;
  /** While the job runs, repeat the status at least this often (a sign of life; default 30 s, 0: never). */
  keepAliveMs?: number;
}

type ReportedState = 'assigned' | 'setup' | 'running' | 'uploading' | 'done';

const ORDER: ReportedState[] = ['assigned', 'setup', 'running', 'uploading', 'done'];

export function apiBase(apiUrl: string): string {
  const trimmed = apiUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/api/v1') ? trimmed : `${trimmed}/api/v1`;
}

export class ApiReporter {
  private reason: string | undefined;
  private readonly base: string;
  private readonly retry: ReportRetry;
  private readonly log: (line: string) => void;
  private state: ReportedState = 'assigned';
  private readonly modules = new Map<string, ModuleStatus>();
  /** name → hash of what the server already links for this job. */
  private readonly linked = new Map<string, string>();
  /** Serialises every request; progress events only enqueue work. */
  private chain: Promise<void> = Promise.resolve();
  private statusDirty = false;
  private stoppedError: JobStopped | undefined;
  private failure: Error | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(private readonly options: ApiReporterOptions) {
    if (!options.token) {
      throw new KubeqaError(
        'KQ_ERR_UNAUTHORIZED',
        `no job token for job ${options.jobId}`,
        'set KUBEQA_JOB_TOKEN to the token issued for the job',
      );
    }
    this.base = apiBase(options.apiUrl);
    this.retry = { ...DEFAULT_REPORT_RETRY, ...options.retry };
    this.log = options.log ?? (() => undefined);
  }

  /** The 409 that stopped this job, if one came. */
  get stopped(): JobStopped | undefined {
    return this.stoppedError;
  }

  /** Reports a state (only forward: a state already passed is not sent again) and waits for it. */
  async setState(state: 'setup' | 'running' | 'uploading'): Promise<void> {
    if (ORDER.indexOf(state) <= ORDER.indexOf(this.state)) return;
    this.state = state;
    this.statusDirty = true;
    this.enqueue(() => this.flushStatus());
    await this.settled();
    if (state !== 'uploading') this.armKeepAlive();
    else this.disarmKeepAlive();
  }

  /** Why the job is still in setup (e.g. waiting for assets), shown on the job. */
  async setReason(reason: string): Promise<void> {
    this.reason = reason;
    this.statusDirty = true;
    this.enqueue(() => this.flushStatus());
    await this.settled();
  }

  /** runJob's onProgress: module starts and ends become status reports (in the background). */
  readonly onProgress = (event: ProgressEvent): void => {
    if (this.stoppedError) return;
    if (event.type === 'module-start') {
      if (this.modules.size === 0) this.loadTestOrder();
      const module = this.modules.get(event.name) ?? { name: event.name, result: 'none' };
      module.category = event.category;
      module.result = 'running';
      this.modules.set(event.name, module);
      if (this.state === 'setup' || this.state === 'assigned') this.state = 'running';
      this.statusDirty = true;
      this.enqueue(() => this.flushStatus());
    } else if (event.type === 'module-end') {
      const name = event.name;
      this.enqueue(async () => {
        await this.reportModule(name, apiModuleResult(event.result));
        await this.flushStatus();
      });
    }
  };

  /** Waits for everything enqueued so far; throws the first error that stopped the reports. */
  async settled(): Promise<void> {
    await this.chain;
    if (this.stoppedError) throw this.stoppedError;
    if (this.failure) throw this.failure;
  }

  /**
   * After runJob: uploading, every result file, the final status with all steps, then set_done.
   * A job that never got to run goes straight to set_done (the state machine allows no
   * uploading from setup).
   */
  async finish(result: JobResultFile): Promise<void> {
    this.disarmKeepAlive();
    await this.settledIgnoringFailure();
    if (this.stoppedError) throw this.stoppedError;
    if (this.state === 'running') await this.setState('uploading');
    await this.uploadAll();
    for (const module of result.modules) {
      await this.reportModule(module.name, apiModuleResult(module.result), module.category);
    }
    if (this.state !== 'assigned' && this.state !== 'setup') {
      this.statusDirty = true;
      await this.flushStatus();
    }
    await this.setDone(result.result, result.reason);
  }

  /** POST set_done (result and optional reason). */
  async setDone(result: string, reason?: string): Promise<void> {
    this.disarmKeepAlive();
    const params = new URLSearchParams({ result });
    if (reason) params.set('reason', reason.slice(0, 1000));
    await this.request('POST', `jobs/${this.options.jobId}/set_done?${params.toString()}`);
    this.state = 'done';
  }

  /** The job's settings as the API shows them (GET /jobs/:id; several values joined by commas). */
  async jobSettings(): Promise<Record<string, string>> {
    const { body } = await this.request('GET', `jobs/${this.options.jobId}`);
    const settings = (body as { job?: { settings?: unknown } }).job?.settings;
    if (!settings || typeof settings !== 'object')
      throw new KubeqaError('KQ_ERR_INTERNAL', `the API sent no settings for job ${this.options.jobId}`);
    return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)]));
  }

  /** Links (or uploads) one file under `name`; returns its SHA-256. */
  async upload(name: string, path: string): Promise<string> {
    const data = readFileSync(path);
    const hash = createHash('sha256').update(data).digest('hex');
    if (this.linked.get(name) === hash) return hash;
    const link = await this.request('POST', `jobs/${this.options.jobId}/artefacts`, {
      json: { name, hash },
      allow404: true,
    });
    if (link.status === 404) {
      await this.request('PUT', `jobs/${this.options.jobId}/artefacts/${encodeName(name)}`, { bytes: data });
    }
    this.linked.set(name, hash);
    return hash;
  }

  /** Stops the keep-alive timer (on abort). */
  close(): void {
    this.disarmKeepAlive();
  }

  private async settledIgnoringFailure(): Promise<void> {
    await this.chain;
    if (this.failure) {
      this.log(`an earlier report failed (${this.failure.message}); sending the final report anyway`);
      this.failure = undefined;
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.stoppedError || this.failure) return;
      try {
        await work();
      } catch (error) {
        if (error instanceof JobStopped) return;
        this.failure = error as Error;
        this.log(`report failed: ${(error as Error).message}`);
      }
    });
  }

  private loadTestOrder(): void {
    const file = join(this.options.resultDir, 'testresults', 'test_order.json');
    if (!existsSync(file)) return;
    try {
      const order = JSON.parse(readFileSync(file, 'utf8')) as TestOrderEntry[];
      for (const entry of order) {
        this.modules.set(entry.name, {
          name: entry.name,
          category: entry.category,
          script: entry.script,
          result: 'none',
          ...moduleFlags(entry.flags),
        });
      }
    } catch (error) {
      this.log(`test_order.json unreadable: ${(error as Error).message}`);
    }
  }

  /** Uploads a finished module's files and puts its steps into the next status. */
  private async reportModule(name: string, result: ModuleStatus['result'], category?: string): Promise<void> {
    if (this.modules.size === 0) this.loadTestOrder();
    const module = this.modules.get(name) ?? { name, result };
    if (category) module.category = category;
    module.result = result;
    this.modules.set(name, module);
    this.statusDirty = true;
    const testresults = join(this.options.resultDir, 'testresults');
    const resultFile = join(testresults, `result-${name}.json`);
    if (!existsSync(resultFile)) return;
    const file = JSON.parse(readFileSync(resultFile, 'utf8')) as ModuleResultFile;
    const hashes = new Map<string, string>();
    for (const detail of file.details) {
      for (const f of [detail.screenshot, detail.text]) {
        if (f && !hashes.has(f) && existsSync(join(testresults, f)))
          hashes.set(f, await this.upload(`testresults/${f}`, join(testresults, f)));
      }
    }
    // the needles the steps name (matched and closest candidates), for the step view's overlay,
    // side-by-side and difference views: needles/<name>.json and .png
    const needles = new Map<string, string>();
    for (const detail of file.details) {
      if (detail.needle && detail.json) needles.set(detail.needle, detail.json);
      for (const candidate of detail.needles ?? [])
        if (candidate.json) needles.set(candidate.name, candidate.json);
    }
    for (const [needle, json] of needles) {
      const png = join(dirname(json), `${basename(json, '.json')}.png`);
      if (!/^[A-Za-z0-9._-]+$/.test(needle) || !existsSync(json) || !existsSync(png)) continue;
      await this.upload(`needles/${needle}.json`, json);
      await this.upload(`needles/${needle}.png`, png);
    }
    await this.upload(`testresults/result-${name}.json`, resultFile);
    module.steps = statusSteps(
      file.details,
      (f) => hashes.get(f),
      (f) => (existsSync(join(testresults, f)) ? readFileSync(join(testresults, f), 'utf8') : undefined),
    );
  }

  private async uploadAll(): Promise<void> {
    const root = this.options.resultDir;
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) files.push(relative(root, path));
      }
    };
    if (existsSync(root)) walk(root);
    for (const name of files.filter(isResultFile).sort()) {
      if (statSync(join(root, name)).size > 0 || name.endsWith('.txt'))
        await this.upload(name, join(root, name));
    }
  }

  private async flushStatus(): Promise<void> {
    if (!this.statusDirty) return;
    this.statusDirty = false;
    const state = this.state === 'assigned' ? 'setup' : this.state === 'done' ? 'uploading' : this.state;
    const reason = state === 'setup' ? this.reason : undefined;
    await this.request('POST', `jobs/${this.options.jobId}/status`, {
      json: { state, modules: [...this.modules.values()], ...(reason ? { reason } : {}) },
    });
    // steps once sent need not travel again
    for (const module of this.modules.values()) if (module.result !== 'running') delete module.steps;
  }

  private armKeepAlive(): void {
    const every = this.options.keepAliveMs ?? 30_000;
    if (every <= 0 || this.keepAlive) return;
    this.keepAlive = setInterval(() => {
      if (this.state !== 'setup' && this.state !== 'running') return;
      this.statusDirty = true;
      this.enqueue(() => this.flushStatus());
    }, every);
    this.keepAlive.unref();
  }

  private disarmKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** One API call with retries; 409 → JobStopped (and onStopped once). */
  private async request(
    method: string,
    path: string,
    body: { json?: unknown; bytes?: Buffer; allow404?: boolean } = {},
  ): Promise<{ status: number; body: unknown }> {
    if (this.stoppedError) throw this.stoppedError;
    const url = `${this.base}/${path}`;
    const what = `${method} ${url.replace(/\?.*$/, '')}`;
    const headers: Record<string, string> = { 'x-kubeqa-job-token': this.options.token };
    let payload: string | Uint8Array | undefined;
    if (body.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body.bytes) {
      headers['content-type'] = 'application/octet-stream';
      payload = new Uint8Array(body.bytes.buffer, body.bytes.byteOffset, body.bytes.byteLength);
    }
    let attempts = 0;
    const attempt = async (): Promise<{ status: number; body: unknown }> => {
      attempts++;
      try {
        // a request that never answers must not hold the job (or its end) forever: it is retried
        const res = await fetch(url, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        if (res.ok || (res.status === 404 && body.allow404)) return { status: res.status, body: parsed };
        const message = errorText(parsed) ?? `HTTP ${res.status}`;
        if (res.status === 409) {
          this.stoppedError = new JobStopped(this.options.jobId, message);
          this.disarmKeepAlive();
          this.log(`${what}: 409 ${message}; stopping the job`);
          this.options.onStopped?.(this.stoppedError);
          throw this.stoppedError;
        }
        if (!isTransientStatus(res.status)) {
          const denied = res.status === 401 || res.status === 403;
          throw new KubeqaError(
            denied ? 'KQ_ERR_UNAUTHORIZED' : 'KQ_ERR_INVALID_ARGUMENT',
            `${what} was refused: HTTP ${res.status} ${message}`,
            denied ? 'the job token is wrong or was replaced by a newer one' : undefined,
          );
        }
        throw new AttemptFailed(`HTTP ${res.status} ${message}`);
      } catch (error) {
        if (error instanceof JobStopped || error instanceof KubeqaError || error instanceof AttemptFailed)
          throw error;
        throw new AttemptFailed(causeText(error));
      }
    };
    try {
      return await withRetry(attempt, {
        ...this.retry,
        attempts: Number.POSITIVE_INFINITY,
        retryable: (error) => error instanceof AttemptFailed,
        onRetry: (error, _n, delay) =>
          this.log(`${what}: ${(error as Error).message}; retrying in ${delay} ms`),
      });
    } catch (error) {
      if (!(error instanceof AttemptFailed)) throw error;
      throw new KubeqaError(
        'KQ_ERR_UNREACHABLE',
        `${what} failed ${attempts} times (${error.message})`,
        "check that kubeqa's API is reachable from the runner (--api / KUBEQA_API_URL)",
      );
    }
  }
}

/** One API call's limit (uploads included); past it the call fails and is retried. */
const REQUEST_TIMEOUT_MS = 120_000;

function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

function errorText(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'error' in body) return String((body as { error: unknown }).error);
  return typeof body === 'string' && body.length > 0 ? body.slice(0, 200) : undefined;
}

function causeText(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
}
