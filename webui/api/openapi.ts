// `/api/v1/openapi.json`: an OpenAPI 3.1 document made from the routes' own JSON schemas.
import type { FastifyInstance, FastifySchema } from 'fastify';
import { errorSchema } from '../errors.js';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    tags?: string[];
  }
}

interface RouteInfo {
  method: string;
  url: string;
  schema?: FastifySchema & { summary?: string; tags?: string[] };
}

export function recordRoutes(app: FastifyInstance): RouteInfo[] {
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || !route.url.startsWith('/api/')) continue;
      routes.push({ method, url: route.url, schema: route.schema as RouteInfo['schema'] });
    }
  });
  return routes;
}

function parametersOf(schema: RouteInfo['schema'], where: 'path' | 'query') {
  const source = (where === 'path' ? schema?.params : schema?.querystring) as
    | { properties?: Record<string, unknown>; required?: string[] }
    | undefined;
  return Object.entries(source?.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (source?.required ?? []).includes(name),
    schema: s,
  }));
}

export function openApiDocument(routes: readonly RouteInfo[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const responses: Record<string, unknown> = {
      default: { description: 'error', content: { 'application/json': { schema: errorSchema } } },
    };
    for (const [status, s] of Object.entries((r.schema?.response ?? {}) as Record<string, unknown>)) {
      responses[status] = { description: 'response', content: { 'application/json': { schema: s } } };
    }
    if (!responses['200']) responses['200'] = { description: 'success' };
    const entry = paths[path] ?? {};
    paths[path] = entry;
    entry[r.method.toLowerCase()] = {
      summary: r.schema?.summary,
      tags: r.schema?.tags,
      parameters: [...parametersOf(r.schema, 'path'), ...parametersOf(r.schema, 'query')],
      ...(r.schema?.body
        ? {
            requestBody: {
              content: {
                'application/json': { schema: r.schema.body },
                'application/x-www-form-urlencoded': { schema: r.schema.body },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'kubeqa API', version: '1', description: 'openQA-compatible REST API of kubeqa' },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-API-Key',
          description: 'with X-API-Microtime and X-API-Hash (HMAC-SHA1)',
        },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
    paths,
  };
}

export async function openApiRoutes(api: FastifyInstance, routes: readonly RouteInfo[]): Promise<void> {
  api.get('/openapi.json', { schema: { summary: 'this document', tags: ['meta'] } }, async () =>
    openApiDocument(routes),
  );
}
