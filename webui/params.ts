// openQA's clients send parameters in the query string (Python client), as a form body
// (openqa-cli), or as JSON: all three arrive here as one flat map. A key given several times
// keeps all its values (WORKER_CLASS=a&WORKER_CLASS=b).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KubeqaError } from '../domain/errors.js';

export type FlatParams = Record<string, string | string[]>;

export function parseForm(body: string): FlatParams {
  const out: FlatParams = {};
  for (const [key, value] of new URLSearchParams(body)) add(out, key, value);
  return out;
}

function add(out: FlatParams, key: string, value: string): void {
  const prev = out[key];
  if (prev === undefined) out[key] = value;
  else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
}

export function installBodyParsers(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, parseForm(body as string));
  });
  // Multipart bodies are read by the routes that take uploads.
  app.addContentTypeParser('multipart/form-data', (_req, _payload, done) => done(null, undefined));
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: 1 << 30 },
    (_req, body, done) => done(null, body),
  );
}

/** Query and body parameters together (body wins), values as strings. */
export function requestParams(request: FastifyRequest): FlatParams {
  const out: FlatParams = {};
  const merge = (source: unknown) => {
    if (!source || typeof source !== 'object' || Buffer.isBuffer(source)) return;
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
      if (value === undefined || value === null) continue;
      // a JSON `settings` object is read by the routes that take settings (see api/config.ts)
      if (key === 'settings' && typeof value === 'object') continue;
      if (Array.isArray(value)) out[key] = value.map((v) => stringify(key, v));
      else out[key] = stringify(key, value);
    }
  };
  merge(request.query);
  merge(request.body);
  return out;
}

function stringify(key: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `parameter ${key} must be a string or number`);
}

/** The last value of a parameter. */
export function single(params: FlatParams, key: string): string | undefined {
  const value = params[key];
  return Array.isArray(value) ? value.at(-1) : value;
}

/** Every parameter as one string (the last one given), for settings maps. */
export function singles(params: FlatParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(params)) out[key] = single(params, key) as string;
  return out;
}

/** A comma-separated or repeated list parameter. */
export function list(params: FlatParams, key: string): string[] {
  const value = params[key] ?? params[`${key}[]`];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

export function intParam(params: FlatParams, key: string): number | undefined {
  const value = single(params, key);
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) {
    throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `parameter ${key} must be an integer, got '${value}'`);
  }
  return Number(value);
}

export function idParam(raw: string, what = 'id'): number {
  if (!/^\d+$/.test(raw))
    throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `${what} must be a positive integer, got '${raw}'`);
  return Number(raw);
}
