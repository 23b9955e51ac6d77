// A minimal writer for the cpio "newc" format, which is what the Linux kernel unpacks as an
// initramfs. Enough for directories, regular files and symlinks.
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  path: string;
  type: 'dir' | 'file' | 'symlink';
  mode?: number;
  /** File contents, or the symlink target. */
  data?: Buffer | string;
}

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(ino: number, entry: { path: string; mode: number; size: number; nlink: number }): Buffer {
  const name = Buffer.from(`${entry.path}\0`);
  const fields = [
    '070701',
    hex8(ino),
    hex8(entry.mode),
    hex8(0), // uid
    hex8(0), // gid
    hex8(entry.nlink),
    hex8(0), // mtime: fixed, so the same inputs make the same archive
    hex8(entry.size),
    hex8(0),
    hex8(0),
    hex8(0),
    hex8(0),
    hex8(name.length),
    hex8(0), // check
  ].join('');
  const head = Buffer.concat([Buffer.from(fields, 'ascii'), name]);
  return Buffer.concat([head, pad4(head.length)]);
}

/** The newc archive of the entries (parents must come before children), ending in TRAILER!!!. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const entry of entries) {
    const data = entry.data === undefined ? Buffer.alloc(0) : Buffer.from(entry.data);
    const defaultMode = entry.type === 'dir' ? 0o755 : entry.type === 'symlink' ? 0o777 : 0o644;
    const mode = TYPE_BITS[entry.type] | (entry.mode ?? defaultMode);
    parts.push(
      header(ino++, {
        path: entry.path.replace(/^\/+/, ''),
        mode,
        size: data.length,
        nlink: entry.type === 'dir' ? 2 : 1,
      }),
    );
    parts.push(data, pad4(data.length));
  }
  parts.push(header(0, { path: 'TRAILER!!!', mode: 0, size: 0, nlink: 1 }));
  return Buffer.concat(parts);
}

/** gzip-compressed newc archive, as the kernel expects for an initrd. */
export function initramfs(entries: CpioEntry[]): Buffer {
  return gzipSync(cpioNewc(entries), { level: 6 });
}
