// Content-addressed files on disk: <dir>/<first two hex digits>/<sha256>. Written to a temporary
// name and renamed, so a reader never sees half a file; writing the same content twice is a no-op.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function blobPath(dir: string, hash: string): string {
  return join(dir, hash.slice(0, 2), hash);
}

/** Stores `data`, returning its hash and whether it was new. */
export async function putBlob(dir: string, data: Buffer): Promise<{ hash: string; created: boolean }> {
  const hash = sha256Of(data);
  const path = blobPath(dir, hash);
  if (existsSync(path)) return { hash, created: false };
  await mkdir(join(dir, hash.slice(0, 2)), { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
  return { hash, created: true };
}
