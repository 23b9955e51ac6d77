// Where the cache gets assets from: the asset store (S3, with credentials) or, in remote mode, the
// web API over HTTP(S) with an API key, every request signed as openQA's clients sign them.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { type AssetType, assetKey } from '../../domain/assets/types.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { KubeqaError } from '../../domain/errors.js';
import type { AssetStore } from '../../runtime/storage/store.js';

export interface SourceFacts {
  size: number;
  etag: string;
  sha256?: string;
}

export interface AssetSource {
  readonly description: string;
  /** The asset's current facts, or undefined when the source does not have it. */
  stat(type: AssetType, name: string): Promise<SourceFacts | undefined>;
  /** Its bytes from `offset`. */
  open(type: AssetType, name: string, offset: number): Promise<Readable>;
}

export class StoreSource implements AssetSource {
  readonly description: string;
  constructor(private readonly store: AssetStore) {
    this.description = store.description;
  }

  async stat(type: AssetType, name: string): Promise<SourceFacts | undefined> {
    const facts = await this.store.stat(assetKey(type, name));
    return facts && { size: facts.size, etag: facts.etag, ...(facts.sha256 ? { sha256: facts.sha256 } : {}) };
  }

  open(type: AssetType, name: string, offset: number): Promise<Readable> {
    return this.store.get(assetKey(type, name), { offset });
  }
}

export interface RemoteSourceOptions {
  /** The web API's base URL, e.g. https://kubeqa.example.com */
  baseUrl: string;
  /** A worker's API key and secret (remote workers): every request is HMAC-signed. */
  apiKey?: string;
  apiSecret?: string;
  /** Or a test pod's per-job token (in-cluster without S3 credentials): sent as a bearer token. */
  jobToken?: string;
  /** A PEM CA bundle to trust (a private CA). */
  caFile?: string;
}

/** The path of the download route (webui/assets/download-route.ts serves it). */
export function assetFilePath(type: AssetType, name: string): string {
  return `/api/v1/assets/${encodeURIComponent(type)}/${encodeURIComponent(name)}/file`;
}

export class RemoteSource implements AssetSource {
  readonly description: string;
  private readonly base: URL;
  private readonly ca: Buffer | undefined;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(private readonly options: RemoteSourceOptions) {
    this.base = new URL(options.baseUrl);
    if (this.base.protocol !== 'https:' && this.base.protocol !== 'http:') {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `the web API URL must be http(s)://, got '${options.baseUrl}'`,
      );
    }
    if (!(options.apiKey && options.apiSecret) && !options.jobToken) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        'remote mode needs an API key and secret, or a job token',
      );
    }
    this.description = `web API ${this.base.origin}`;
    this.ca = options.caFile ? readFileSync(options.caFile) : undefined;
    this.agent =
      this.base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, ...(this.ca ? { ca: this.ca } : {}) })
        : new HttpAgent({ keepAlive: true });
  }

  private request(
    method: 'HEAD' | 'GET',
    type: AssetType,
    name: string,
    offset = 0,
  ): Promise<IncomingMessage> {
    const basePath = this.base.pathname.replace(/\/$/, '');
    const path = `${basePath}${assetFilePath(type, name)}`;
    const { apiKey, apiSecret, jobToken } = this.options;
    const headers: Record<string, string> =
      apiKey && apiSecret
        ? { ...signRequest(apiKey, apiSecret, path) }
        : { Authorization: `Bearer ${jobToken ?? ''}` };
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(new URL(path, this.base.origin), { method, headers, agent: this.agent }, resolve);
      req.once('error', reject);
      req.end();
    });
  }

  private async failure(response: IncomingMessage, what: string): Promise<never> {
    let text = '';
    for await (const chunk of response) {
      if (text.length < 2000) text += String(chunk);
    }
    const reason = response.headers['x-kubeqa-error'];
    let detail = typeof reason === 'string' ? reason : text.slice(0, 300);
    try {
      detail = (JSON.parse(text) as { error?: string }).error ?? detail;
    } catch {
      // not JSON
    }
    const status = response.statusCode ?? 0;
    const auth = status === 401 || status === 403;
    throw Object.assign(
      new KubeqaError(
        auth ? 'KQ_ERR_UNAUTHORIZED' : 'KQ_ERR_DOWNLOAD',
        `${this.description} refused ${what}: ${status}${detail ? ` ${detail}` : ''}`,
        auth
          ? 'check the worker API key and secret, and that this machine keeps the time (signatures expire after 300 s)'
          : undefined,
      ),
      { status },
    );
  }

  async stat(type: AssetType, name: string): Promise<SourceFacts | undefined> {
    const response = await this.request('HEAD', type, name);
    response.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) return this.failure(response, `${type}/${name}`);
    const size = Number(response.headers['content-length']);
    const etag = (response.headers.etag ?? '').replace(/^W\//, '').replace(/"/g, '');
    const sha = response.headers['x-kubeqa-sha256'];
    const sha256 = typeof sha === 'string' ? sha : undefined;
    return { size, etag, ...(sha256 ? { sha256 } : {}) };
  }

  async open(type: AssetType, name: string, offset: number): Promise<Readable> {
    const response = await this.request('GET', type, name, offset);
    const status = response.statusCode ?? 0;
    if (status !== 200 && status !== 206) return this.failure(response, `${type}/${name}`);
    if (offset > 0 && status !== 206) {
      response.destroy();
      throw new KubeqaError(
        'KQ_ERR_DOWNLOAD',
        `${this.description} ignored the range request for ${type}/${name}`,
      );
    }
    return response;
  }
}
