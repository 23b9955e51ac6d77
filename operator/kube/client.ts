// A thin JSON client for the Kubernetes API: requests and watch streams over node:https with the
// credentials of a kubeconfig (or the in-cluster service account), objects passed through as plain
// JSON. The typed @kubernetes/client-node models are avoided on purpose: their serializer drops
// fields it does not model (x-kubernetes-* schema extensions, unknown status fields).
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
import { createSecureContext } from 'node:tls';
import { loadCredentials } from './kubeconfig.js';

export interface KubeStatus {
  kind: 'Status';
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: Array<{ field?: string; message?: string; reason?: string }> };
}

/** An error answer of the API server, with its Status object. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly status: KubeStatus | undefined,
    method: string,
    path: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${status?.message ?? status?.reason ?? ''}`.trim());
    this.name = 'KubeApiError';
  }
  get reason(): string | undefined {
    return this.status?.reason;
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestInit {
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

/** Connections to the apiserver one client keeps at most (watches included); more requests queue. */
const MAX_SOCKETS = 64;

export class KubeClient {
  private token: { value: string; readAt: number } | undefined;
  private readonly baseOptions: RequestOptions;

  private constructor(
    private readonly server: string,
    options: RequestOptions,
    private readonly tokenFile?: string,
  ) {
    // One agent per client, keeping connections alive, and the TLS context built once: without
    // it every new connection parses the CA and the client key again (visible in profiles when a
    // burst of Job CRs opens connections).
    if (options.agent !== undefined) this.baseOptions = options;
    else {
      const { ca, cert, key, ...rest } = options;
      const tls = ca !== undefined || cert !== undefined || key !== undefined;
      this.baseOptions = {
        ...rest,
        ...(tls ? { secureContext: createSecureContext({ ca, cert, key }) } : {}),
        agent: new Agent({ keepAlive: true, timeout: 5_000, maxSockets: MAX_SOCKETS, scheduling: 'lifo' }),
      };
    }
  }

  /** From a kubeconfig file, or in-cluster credentials when `kubeconfig` is undefined and no KUBECONFIG is set. */
  static async fromKubeconfig(kubeconfig?: string): Promise<KubeClient> {
    const credentials = loadCredentials(kubeconfig);
    if (credentials) return new KubeClient(credentials.server, credentials.options, credentials.tokenFile);
    // exec plugins and auth-providers (cloud CLIs): client-node's loader, loaded only for them
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    const options: RequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    return new KubeClient(cluster.server.replace(/\/$/, ''), options);
  }

  /** The bearer token of a token file, re-read every minute (projected tokens rotate). */
  private bearer(): Record<string, string> {
    if (!this.tokenFile) return {};
    if (!this.token || Date.now() - this.token.readAt > 60_000)
      this.token = { value: readFileSync(this.tokenFile, 'utf8').trim(), readAt: Date.now() };
    return { authorization: `Bearer ${this.token.value}` };
  }

  /** One request; resolves with the parsed JSON body, rejects with KubeApiError on status >= 400. */
  async request<T = unknown>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const { status, text } = await this.raw(method, path, init);
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (a proxy's or the mux's plain "404 page not found")
      parsed = { kind: 'Status', status: 'Failure', message: text.slice(0, 500), code: status };
      if (status < 400) throw new KubeApiError(status, parsed as KubeStatus, method, path);
    }
    if (status >= 400) throw new KubeApiError(status, parsed as KubeStatus | undefined, method, path);
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  create<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }
  replace<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, { body });
  }
  patch<T>(
    path: string,
    body: unknown,
    type: PatchType = 'merge',
    fieldManager?: string,
    force = false,
  ): Promise<T> {
    const query = new URLSearchParams();
    if (fieldManager) query.set('fieldManager', fieldManager);
    if (force) query.set('force', 'true');
    const sep = path.includes('?') ? '&' : '?';
    const suffix = query.size > 0 ? `${sep}${query}` : '';
    return this.request<T>('PATCH', `${path}${suffix}`, { body, contentType: PATCH_CONTENT_TYPES[type] });
  }

  /**
   * A watch stream: yields events until the server ends the stream or `signal` aborts.
   * A 410 Gone (resource version too old) arrives as an ERROR event whose object is a Status.
   */
  async *watch<T>(path: string, signal?: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const sep = path.includes('?') ? '&' : '?';
    const response = await this.open('GET', `${path}${sep}watch=true&allowWatchBookmarks=true`, { signal });
    if ((response.statusCode ?? 500) >= 400) {
      let text = '';
      for await (const chunk of response) text += chunk;
      const status = text ? (JSON.parse(text) as KubeStatus) : undefined;
      throw new KubeApiError(response.statusCode ?? 500, status, 'WATCH', path);
    }
    const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      for await (const line of lines) {
        if (line.trim()) yield JSON.parse(line) as WatchEvent<T>;
      }
    } catch (error) {
      if (!signal?.aborted) throw error;
    } finally {
      response.destroy();
    }
  }

  private async raw(
    method: string,
    path: string,
    init: RequestInit,
  ): Promise<{ status: number; text: string }> {
    const response = await this.open(method, path, init);
    let text = '';
    response.setEncoding('utf8');
    for await (const chunk of response) text += chunk;
    return { status: response.statusCode ?? 0, text };
  }

  private open(
    method: string,
    path: string,
    init: RequestInit,
  ): Promise<import('node:http').IncomingMessage> {
    const body =
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${this.server}${path}`, {
        ...this.baseOptions,
        method,
        headers: {
          ...(this.baseOptions.headers as Record<string, string> | undefined),
          ...this.bearer(),
          accept: init.accept ?? 'application/json',
          // an explicit length: Node sends no chunked body for DELETE, which the server refuses
          ...(body === undefined
            ? {}
            : {
                'content-type': init.contentType ?? 'application/json',
                'content-length': String(Buffer.byteLength(body)),
              }),
        },
        signal: init.signal,
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end(body);
    });
  }
}
