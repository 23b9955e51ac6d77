// A real HTTP relay in front of a real API server: it forwards every request, records what passed
// (method, path, headers), and can answer the next requests itself with a status or by dropping
// the connection (to test a client's retries against the real API behind it).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RelayedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** What the relay did: forwarded (with the upstream status) or failed it. */
  outcome: number | 'dropped';
}

export interface HttpRelay {
  url: string;
  requests: RelayedRequest[];
  /** The next `count` requests are answered with `status` (or dropped) instead of forwarded. */
  failNext(count: number, how: number | 'drop'): void;
  /** Forget failures not used yet. */
  clearFailures(): void;
  close(): Promise<void>;
}

export async function startRelay(upstream: string): Promise<HttpRelay> {
  const requests: RelayedRequest[] = [];
  const failures: Array<number | 'drop'> = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const entry: RelayedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      outcome: 0,
    };
    requests.push(entry);
    const failure = failures.shift();
    if (failure === 'drop') {
      entry.outcome = 'dropped';
      req.socket.destroy();
      return;
    }
    if (failure !== undefined) {
      entry.outcome = failure;
      res.writeHead(failure, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'injected by the test relay', error_status: failure }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
    const answer = await fetch(`${upstream}${req.url}`, {
      method: req.method,
      headers,
      body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
    });
    entry.outcome = answer.status;
    const body = Buffer.from(await answer.arrayBuffer());
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(count, how) {
      for (let i = 0; i < count; i++) failures.push(how);
    },
    clearFailures() {
      failures.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
