// Counts the kube-apiserver's requests by verb and resource from its own /metrics
// (`apiserver_request_total`), so a benchmark can say how many requests a phase cost: a figure
// that the machine's load does not distort. Watches and the bench's own scrapes of /metrics are
// left out (WATCH, and requests without a resource).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

export type RequestCounts = Map<string, number>;

export interface ApiserverAccess {
  server: string;
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

/** `verb resource[/subresource]` → requests so far. */
export async function apiserverRequests(access: ApiserverAccess): Promise<RequestCounts> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${access.server}/metrics`,
      {
        ca: readFileSync(access.caFile),
        cert: readFileSync(access.clientCertFile),
        key: readFileSync(access.clientKeyFile),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
  return parseRequestTotals(text);
}

/** Parses `apiserver_request_total{…} n` lines of Prometheus text. */
export function parseRequestTotals(text: string): RequestCounts {
  const out: RequestCounts = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]),
    );
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!labels.resource || labels.verb === 'WATCH') continue;
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + value);
  }
  return out;
}

/** What happened between two snapshots (only what changed). */
export function requestDelta(before: RequestCounts, after: RequestCounts): RequestCounts {
  const out: RequestCounts = new Map();
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) out.set(key, delta);
  }
  return out;
}

export function totalOf(counts: RequestCounts): number {
  let sum = 0;
  for (const value of counts.values()) sum += value;
  return sum;
}
