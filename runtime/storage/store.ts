// The asset store: where ISOs and disk images live once for the whole installation. One interface,
// two implementations: S3 (s3-store.ts, MinIO or any S3-compatible service) and a local directory
// (local-store.ts, the embedded mode). Keys are relative (`iso/foo.iso`); each store adds its prefix.
import type { Readable } from 'node:stream';
import { KubeqaError } from '../../domain/errors.js';

export interface StoredObject {
  key: string;
  size: number;
  /** Changes whenever the content changes (S3's ETag; the local store derives one). */
  etag: string;
  lastModified: Date;
  /** Hex sha256 when the store knows it (recorded at upload when it was verified). */
  sha256?: string;
}

export interface PutOptions {
  /** Bytes expected; a mismatch fails the upload. Lets S3 choose the part size for huge files. */
  size?: number;
  /** Hex sha256 the content must have; a mismatch fails the upload and keeps nothing. */
  expectedSha256?: string;
  contentType?: string;
  /** Called with the bytes received so far, at most every `progressIntervalBytes`. */
  onProgress?: (bytes: number) => void;
}

export interface PutResult extends StoredObject {
  sha256: string;
}

export interface GetOptions {
  /** Start at this byte (to resume an interrupted download). */
  offset?: number;
}

export interface AssetStore {
  readonly kind: 's3' | 'local';
  /** Where it stores, for logs and errors (never credentials). */
  readonly description: string;
  /**
   * Stream `body` into `key`. Atomic: either the whole object (checksum verified when one is
   * expected) becomes visible under `key`, or nothing does and the previous object stays.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  /** The object's bytes from `offset`; KQ_ERR_NOT_FOUND when there is no such object. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /** The object's facts, or undefined when there is none. */
  stat(key: string): Promise<StoredObject | undefined>;
  /** Remove the object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Every object under `prefix` (relative keys). */
  list(prefix?: string): AsyncIterable<StoredObject>;
  /** Where `key` lives, for status and logs (`s3://bucket/prefix/key`, `file:///dir/key`). */
  location(key: string): string;
}

/** Throws unless `key` is a relative path of safe segments. */
export function checkKey(key: string): string {
  const segments = key.split('/');
  if (
    key.length === 0 ||
    key.length > 900 ||
    key.startsWith('/') ||
    segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.kubeqa-'))
  ) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `invalid store key '${key.slice(0, 200)}'`,
      'keys are relative paths of non-empty segments without . or ..',
    );
  }
  return key;
}
