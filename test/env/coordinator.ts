// One test environment per run: services start on first request and are shared by every test
// file of the run. Test files run in other processes, so the environment answers over HTTP on
// loopback (KUBEQA_TESTENV_URL); the first request for a service starts it, later ones wait for
// the same start and get the same connection details.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  isServiceName,
  SERVICE_NAMES,
  type ServiceInfoMap,
  type ServiceName,
  type StartedService,
  starters,
} from './services/index.js';

type State = 'starting' | 'running' | 'failed';

export interface ServiceStatus {
  state: State;
  ms?: number;
  error?: string;
  pids?: number[];
}

export class TestEnvironment {
  private readonly services = new Map<ServiceName, Promise<StartedService<unknown>>>();
  private readonly states = new Map<ServiceName, ServiceStatus>();

  constructor(private readonly log: (line: string) => void = () => {}) {}

  /** Start the service if it is not running yet; resolve with its connection details. */
  async get<K extends ServiceName>(name: K): Promise<ServiceInfoMap[K]> {
    let started = this.services.get(name);
    if (!started) {
      const begin = Date.now();
      this.states.set(name, { state: 'starting' });
      this.log(`starting ${name}`);
      started = starters[name](this.log).then(
        (service) => {
          const ms = Date.now() - begin;
          this.states.set(name, { state: 'running', ms, pids: service.pids ?? [] });
          this.log(`${name} ready in ${ms} ms`);
          return service as StartedService<unknown>;
        },
        (error: Error) => {
          this.states.set(name, { state: 'failed', error: error.message });
          this.log(`${name} failed: ${error.message}`);
          throw error;
        },
      );
      this.services.set(name, started);
    }
    return (await started).info as ServiceInfoMap[K];
  }

  status(): Record<string, ServiceStatus> {
    return Object.fromEntries(this.states);
  }

  async stopAll(): Promise<void> {
    const all = [...this.services.values()];
    this.services.clear();
    await Promise.all(
      all.map(async (p) => {
        const service = await p.catch(() => undefined);
        await service?.stop();
      }),
    );
  }
}

export interface EnvironmentServer {
  /** http://127.0.0.1:port/<token> */
  url: string;
  close(): Promise<void>;
}

/** Serve the environment on loopback; the URL carries a random token so only this run uses it. */
export function serveEnvironment(env: TestEnvironment, onShutdown?: () => void): Promise<EnvironmentServer> {
  const token = randomBytes(12).toString('hex');
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const parts = (req.url ?? '').split('/').filter(Boolean);
    if (parts[0] !== token) return reply(404, { error: 'unknown environment' });
    const [, action, name] = parts;
    if (req.method === 'GET' && action === 'status')
      return reply(200, { services: env.status(), known: SERVICE_NAMES });
    if (req.method === 'POST' && action === 'shutdown') {
      reply(200, { ok: true });
      onShutdown?.();
      return;
    }
    if (req.method === 'POST' && action === 'services' && name) {
      if (!isServiceName(name))
        return reply(400, { error: `unknown service '${name}' (known: ${SERVICE_NAMES.join(', ')})` });
      env.get(name).then(
        (info) => reply(200, info),
        (error: Error) => reply(500, { error: error.message }),
      );
      return;
    }
    reply(404, { error: `no route ${req.method} ${action ?? ''}` });
  });
  // A request may wait minutes for a cold build; never time it out here.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}/${token}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
