// Decompression for `…_DECOMPRESS_URL` imports: gzip in-process (zlib), xz, bzip2 and zstd through
// the system tools (Debian packages xz-utils, bzip2, zstd), as streams.
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Transform } from 'node:stream';
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
  // Once the tool has gone and its pipes are closed: its exit code, and all it said on stderr.
  const ended = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  // The output ends only when the tool has said it succeeded: a corrupt or truncated input makes
  // it write what it could and then exit non-zero, after its output has already ended.
  const output = new Transform({
    transform(chunk, _encoding, done) {
      done(null, chunk);
    },
    flush(done) {
      void ended.then((code) =>
        done(
          code === 0
            ? null
            : new KubeqaError(
                'KQ_ERR_DOWNLOAD',
                `${tool.command} could not decompress the download: ${stderr.trim() || `exit ${code}`}`,
                'check that the URL points to a complete file of that compression (the source may be truncated or corrupt)',
              ),
        ),
      );
    },
  });
  child.stdout.pipe(output);
  // A tool that gives up on bad input closes its stdin: what is still written gets EPIPE, and the
  // tool's exit code (through the output, above) says what went wrong.
  const input = new PassThrough();
  input.pipe(child.stdin);
  child.stdin.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') duplex.destroy(error);
  });
  const duplex = Duplex.from({ writable: input, readable: output });
  // Destroyed before the end (an aborted import, a failed upload): the tool must not wait on. (At
  // the normal end the output closes after the tool has exited.)
  output.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
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
  return duplex;
}
