// The asset store in a local directory, for the embedded mode (`kubeqa up`): the same interface as
// the S3 store. Objects are files under the root; an upload is written to a temporary file beside
// them and renamed into place only after its checksum was verified, so a failed or corrupted
// upload leaves nothing behind. Facts S3 would keep (sha256) live in a small JSON file per object.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { KubeqaError } from '../../domain/errors.js';
import {
  type AssetStore,
  checkKey,
  type GetOptions,
  type PutOptions,
  type PutResult,
  type StoredObject,
} from './store.js';

const META_DIR = '.kubeqa-meta';
const TMP_DIR = '.kubeqa-tmp';

interface Meta {
  sha256: string;
  size: number;
  mtimeMs: number;
}

export class LocalStore implements AssetStore {
  readonly kind = 'local' as const;
  readonly description: string;

  constructor(readonly root: string) {
    this.description = `local directory ${root}`;
  }

  location(key: string): string {
    return pathToFileURL(this.path(key)).toString();
  }

  private path(key: string): string {
    return join(this.root, checkKey(key));
  }

  private metaPath(key: string): string {
    return join(this.root, META_DIR, `${checkKey(key)}.json`);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const target = this.path(key);
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const hash = createHash('sha256');
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        received += chunk.length;
        options.onProgress?.(received);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx', flush: true }));
      const sha256 = hash.digest('hex');
      if (options.size !== undefined && received !== options.size) {
        throw new KubeqaError(
          'KQ_ERR_CHECKSUM_MISMATCH',
          `${key}: received ${received} bytes, expected ${options.size}`,
          'the source ended early or has a different size than announced; nothing was stored',
        );
      }
      const expected = options.expectedSha256?.toLowerCase();
      if (expected && sha256 !== expected) {
        throw new KubeqaError(
          'KQ_ERR_CHECKSUM_MISMATCH',
          `${key}: checksum mismatch: expected sha256 ${expected}, got ${sha256}`,
          'the source is not the file the checksum describes (or it was corrupted on the way); nothing was stored',
        );
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
      const facts = await stat(target);
      const meta: Meta = { sha256, size: facts.size, mtimeMs: facts.mtimeMs };
      await mkdir(dirname(this.metaPath(key)), { recursive: true });
      await writeFile(this.metaPath(key), JSON.stringify(meta));
      return { key, size: facts.size, etag: sha256, lastModified: facts.mtime, sha256 };
    } catch (error) {
      await rm(tmp, { force: true });
      if (error instanceof KubeqaError) throw error;
      throw new KubeqaError(
        'KQ_ERR_STORAGE',
        `storing ${key} in ${this.description} failed: ${String(error)}`,
        undefined,
        {
          cause: error,
        },
      );
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const path = this.path(key);
    try {
      await stat(path);
    } catch {
      throw new KubeqaError('KQ_ERR_NOT_FOUND', `${key} does not exist in ${this.description}`);
    }
    return createReadStream(path, { start: options.offset ?? 0 });
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    const path = this.path(key);
    let facts: Awaited<ReturnType<typeof stat>>;
    try {
      facts = await stat(path);
    } catch {
      return undefined;
    }
    if (!facts.isFile()) return undefined;
    let meta: Meta | undefined;
    try {
      meta = JSON.parse(await readFile(this.metaPath(key), 'utf8')) as Meta;
    } catch {
      meta = undefined;
    }
    // The recorded checksum only holds while the file is the one it was computed for.
    const current = meta && meta.size === facts.size && meta.mtimeMs === facts.mtimeMs ? meta : undefined;
    return {
      key,
      size: facts.size,
      etag: current?.sha256 ?? `${facts.size}-${Math.floor(facts.mtimeMs)}`,
      lastModified: facts.mtime,
      ...(current ? { sha256: current.sha256 } : {}),
    };
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
    await rm(this.metaPath(key), { force: true });
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (dir === this.root && (entry.name === META_DIR || entry.name === TMP_DIR)) continue;
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) files.push(relative(this.root, full).split(sep).join('/'));
      }
    };
    await walk(this.root);
    for (const key of files.sort()) {
      if (!key.startsWith(prefix)) continue;
      const facts = await this.stat(key);
      if (facts) yield facts;
    }
  }
}
