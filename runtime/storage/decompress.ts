// Decompression for `…_DECOMPRESS_URL` imports: gzip in-process (zlib), xz, bzip2 and zstd through
// the system tools (Debian packages xz-utils, bzip2, zstd), as streams.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Compression } from '../../domain/assets/url-settings.js';
import { KubeqaError } from '../../domain/errors.js';

const TOOLS: Record<Exclude<Compression, 'gzip'>, { command: string; pkg: string }> = {
  xz: { command: 'xz', pkg: 'xz-utils' },
  bzip2: { command: 'bzip2', pkg: 'bzip2' },
  zstd: { command: 'zstd', pkg: 'zstd' },
};

export function decompressor(kind: Compression): Duplex {
  if (kind === 'gzip') return createGunzip();
  const tool = TOOLS[kind];
  const child = spawn(tool.command, ['-d', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text.slice(0, 2000);
  });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.once('error', (error: NodeJS.ErrnoException) => {
    duplex.destroy(
      error.code === 'ENOENT'
        ? new KubeqaError(
            'KQ_ERR_MISSING_TOOL',
            `'${tool.command}' is needed to decompress ${kind}`,
            `apt-get install -y ${tool.pkg}`,
          )
        : error,
    );
  });
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) {
      duplex.destroy(
        new KubeqaError(
          'KQ_ERR_DOWNLOAD',
          `${tool.command} could not decompress the download: ${stderr.trim() || `exit ${code}`}`,
        ),
      );
    }
  });
  return duplex;
}
