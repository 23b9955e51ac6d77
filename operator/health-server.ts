// The operator's HTTP endpoints for the kubelet and Prometheus: /healthz (the process serves),
// /readyz (its checks pass: informers synced, …) and /metrics.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => { ok: boolean; detail: string };

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export function startHealthServer(options: {
  host?: string;
  port: number;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
}): Promise<HealthServer> {
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/readyz') {
      const results = Object.entries(options.checks).map(([name, check]) => ({ name, ...check() }));
      const ok = results.every((r) => r.ok);
      const body = results.map((r) => `[${r.ok ? '+' : '-'}]${r.name} ${r.detail}`).join('\n');
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${body}\n${ok ? 'ok' : 'not ready'}\n`);
      return;
    }
    if (path === '/metrics') {
      res
        .writeHead(200, { 'content-type': options.registry.contentType })
        .end(await options.registry.metrics());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : options.port,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
