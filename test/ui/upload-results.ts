// Test helper (TO BE REPLACED by worker-image/runner/api-reporter.ts once it is on main): reports
// a finished `kubeqa run` result directory through the runner API routes, as a runner does —
// screenshots and files uploaded by content, modules with their steps (needle details included),
// the needles the steps refer to (for the UI's candidate and difference views), then set_done.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type {
  JobResultFile,
  ModuleResultFile,
  StepDetail,
  TestOrderEntry,
} from '../../domain/runner/results.js';

const MODULE_RESULT: Record<string, string> = {
  ok: 'passed',
  fail: 'failed',
  softfail: 'softfailed',
  skip: 'skipped',
  canceled: 'canceled',
  na: 'none',
};

export class RunnerClient {
  constructor(
    readonly url: string,
    readonly jobId: number,
    readonly token: string,
  ) {}

  async call(method: string, path: string, body?: Buffer | object): Promise<Record<string, unknown>> {
    const binary = Buffer.isBuffer(body);
    const res = await fetch(`${this.url}/api/v1/jobs/${this.jobId}/${path}`, {
      method,
      headers: {
        'x-kubeqa-job-token': this.token,
        ...(body === undefined
          ? {}
          : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
      },
      body: body === undefined ? undefined : binary ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  }

  async upload(name: string, file: string): Promise<string> {
    const r = await this.call('PUT', `artefacts/${name}`, readFileSync(file));
    return r.hash as string;
  }
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

function stepOf(dir: string, detail: StepDetail, num: number, hashes: Map<string, string>) {
  const textFile = detail.text ? join(dir, 'testresults', detail.text) : undefined;
  const text = textFile && existsSync(textFile) ? readFileSync(textFile, 'utf8') : detail.text;
  const similarity = detail.area?.length ? Math.min(...detail.area.map((a) => a.similarity)) : undefined;
  return {
    num,
    kind: detail.screenshot ? 'screen' : detail.title === 'wait_serial' ? 'serial' : 'text',
    result: detail.result,
    ...(detail.title ? { title: detail.title } : {}),
    ...(text ? { text } : {}),
    ...(detail.needle ? { needle: detail.needle } : {}),
    ...(similarity !== undefined ? { similarity } : {}),
    ...(detail.screenshot ? { screenshot: hashes.get(detail.screenshot) } : {}),
    details: {
      ...(detail.area ? { area: detail.area } : {}),
      ...(detail.needles ? { needles: detail.needles } : {}),
      ...(detail.tags ? { tags: detail.tags } : {}),
      ...(detail.frametime ? { frametime: detail.frametime } : {}),
    },
  };
}

/** Reports the result directory of a finished run for `client.jobId`; returns the job's result. */
export async function uploadResultDir(client: RunnerClient, dir: string): Promise<string> {
  const order = JSON.parse(
    readFileSync(join(dir, 'testresults', 'test_order.json'), 'utf8'),
  ) as TestOrderEntry[];
  const results = new Map<string, ModuleResultFile>();
  for (const m of order) {
    const file = join(dir, 'testresults', `result-${m.name}.json`);
    if (existsSync(file)) results.set(m.name, JSON.parse(readFileSync(file, 'utf8')) as ModuleResultFile);
  }
  await client.call('POST', 'status', { state: 'running', modules: [] });
  const hashes = new Map<string, string>();
  for (const png of files(join(dir, 'testresults')).filter((f) => f.endsWith('.png')))
    hashes.set(basename(png), await client.upload(`testresults/${basename(png)}`, png));
  // needles the steps name (matched and candidates): their JSON and PNG
  const needleFiles = new Map<string, string>();
  for (const r of results.values())
    for (const d of r.details) {
      if (d.needle && d.json) needleFiles.set(d.needle, d.json);
      for (const c of d.needles ?? []) needleFiles.set(c.name, c.json);
    }
  for (const [name, json] of needleFiles) {
    await client.upload(`needles/${name}.json`, json);
    await client.upload(`needles/${name}.png`, join(dirname(json), `${name}.png`));
  }
  const modules = order.map((m) => {
    const r = results.get(m.name);
    return {
      name: m.name,
      category: m.category,
      script: m.script,
      result: MODULE_RESULT[r?.result ?? 'na'] ?? 'none',
      milestone: !!m.flags.milestone,
      fatal: !!m.flags.fatal,
      steps: (r?.details ?? []).map((d, i) => stepOf(dir, d, i + 1, hashes)),
    };
  });
  await client.call('POST', 'status', { state: 'uploading', modules });
  for (const name of ['autoinst-log.txt', 'serial0.txt', 'vars.json', 'video.webm'])
    if (existsSync(join(dir, name)) && statSync(join(dir, name)).size > 0)
      await client.upload(name, join(dir, name));
  for (const f of files(join(dir, 'ulogs'))) await client.upload(`ulogs/${basename(f)}`, f);
  const result = JSON.parse(readFileSync(join(dir, 'job-result.json'), 'utf8')) as JobResultFile;
  await client.call('POST', 'set_done', {
    result: result.result,
    ...(result.reason ? { reason: result.reason } : {}),
  });
  return result.result;
}
