// A plain HTTP server on loopback as the source of asset downloads in tests: it serves what a test
// put at a path (bytes, or a file streamed from disk), 404 for anything else, and can hold a
// download back halfway until the test releases it (to watch an import in progress, or to stop
// something in the middle of one).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpSource {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Requests answered so far (404s included). */
  readonly requests: number;
  /** Serve `body` at `path`: bytes, or the path of a file to stream. */
  serve(path: string, body: Buffer | { file: string }): void;
  /**
   * Send only the first half of `path`'s body until the returned function is called; after that
   * it is served whole again.
   */
  hold(path: string): () => void;
  close(): Promise<void>;
}

export async function startHttpSource(): Promise<HttpSource> {
  const bodies = new Map<string, Buffer | { file: string }>();
  const gates = new Map<string, Promise<void>>();
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    const path = req.url ?? '';
    const body = bodies.get(path);
    if (body === undefined) {
      res.writeHead(404).end('not here');
      return;
    }
    if (!Buffer.isBuffer(body)) {
      res.writeHead(200, { 'Content-Length': statSync(body.file).size });
      createReadStream(body.file, { highWaterMark: 1 << 20 }).pipe(res);
      return;
    }
    res.writeHead(200, { 'Content-Length': body.length });
    const gate = gates.get(path);
    if (!gate) {
      res.end(body);
      return;
    }
    const half = Math.floor(body.length / 2);
    res.write(body.subarray(0, half));
    void gate.then(() => res.end(body.subarray(half)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    serve(path, body) {
      bodies.set(path, body);
    },
    hold(path) {
      let release!: () => void;
      gates.set(
        path,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      return () => {
        gates.delete(path);
        release();
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
