// Serves the built UI: hashed files under /static/ (cached for a year) and index.html for every
// page address, so that the browser's router shows the page.
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import { uiDist } from './build.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
};

/** Addresses of the UI's pages (the client router knows them too: client/router.ts). */
export const PAGE_ROUTES = [
  '/tests',
  '/login',
  '/build',
  '/tests/:id',
  '/admin/workers',
  '/admin/assets',
  '/admin/groups',
  '/admin/groups/:id',
  '/admin/api_keys',
];

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

export interface StaticOptions {
  /** Also serve the overview at / (off while `kubeqa up` has its own page there). */
  root?: boolean;
}

export async function staticRoutes(app: FastifyInstance, options: StaticOptions = {}): Promise<void> {
  const send = async (reply: FastifyReply, file: string, cache: string) => {
    const dist = resolve(await uiDist()); // no trailing separator
    const path = normalize(join(dist, file));
    // inside the build directory, not a sibling sharing its name as a prefix
    if (!path.startsWith(dist + sep)) throw new KubeqaError('KQ_ERR_NOT_FOUND', 'no such file');
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch {
      throw new KubeqaError('KQ_ERR_NOT_FOUND', `no UI file ${file}`);
    }
    return reply
      .headers(SECURITY_HEADERS)
      .header('cache-control', cache)
      .type(TYPES[extname(path)] ?? 'application/octet-stream')
      .send(data);
  };
  for (const route of options.root ? ['/', ...PAGE_ROUTES] : PAGE_ROUTES) {
    app.get(route, (_request, reply) => send(reply, 'index.html', 'no-cache'));
  }
  app.get('/static/*', (request, reply) =>
    send(
      reply,
      join('static', (request.params as { '*': string })['*']),
      'public, max-age=31536000, immutable',
    ),
  );
}
