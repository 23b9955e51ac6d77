// Decompression through the system tools (xz, bzip2, zstd: the real programs), as imports of
// `…_DECOMPRESS_URL` assets use them: a whole stream comes out byte for byte; a truncated or
// corrupt one fails with the tool's own words and never ends as if it had succeeded (the tools
// write what they could and exit non-zero only after their output has ended); a missing tool
// fails with the package to install.
import { execFileSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isKubeqaError } from '../../domain/errors.js';
import { decompressor } from '../../runtime/storage/decompress.js';
import { requireCommand } from '../env/system.js';
import { waitUntil } from '../helpers/wait-until.js';
import { randomData } from './helpers.js';

const TOOLS = [
  { kind: 'xz', command: 'xz', pkg: 'xz-utils' },
  { kind: 'bzip2', command: 'bzip2', pkg: 'bzip2' },
  { kind: 'zstd', command: 'zstd', pkg: 'zstd' },
] as const;

/** 1 MiB of noise and 4 MiB of one byte: the output is several times the input. */
const DATA = Buffer.concat([Buffer.from(randomData(1024 * 1024, 3)), Buffer.alloc(4 * 1024 * 1024, 7)]);

/** How a stream ended: its whole output, or its error (never both). */
function outcome(
  stream: Duplex,
  input: Buffer,
): Promise<{ output: Buffer } | { error: Error; bytes: number }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
    });
    stream.once('end', () => resolve({ output: Buffer.concat(chunks) }));
    stream.once('error', (error) => resolve({ error, bytes }));
    stream.end(input);
  });
}

describe('decompression through the system tools', () => {
  for (const tool of TOOLS) {
    it(`${tool.kind}: a whole stream byte for byte; a truncated or corrupt one fails, never ends`, async () => {
      requireCommand(tool.command, [tool.pkg]);
      const packed = execFileSync(tool.command, ['-c'], { input: DATA, maxBuffer: 64 * 1024 * 1024 });
      const whole = await outcome(decompressor(tool.kind), packed);
      expect('output' in whole && whole.output.equals(DATA)).toBe(true);

      const corrupt = Buffer.from(packed);
      const middle = Math.floor(corrupt.length / 2);
      corrupt[middle] = (corrupt[middle] as number) ^ 0xff;
      for (const [what, input] of [
        ['truncated', packed.subarray(0, Math.floor(packed.length * 0.9))],
        ['corrupt', corrupt],
      ] as const) {
        // several times: whether the tool's exit or its output's end is seen first varies
        for (let round = 0; round < 5; round++) {
          const result = await outcome(decompressor(tool.kind), input);
          expect('error' in result, `${what}, round ${round}: it must not end as a success`).toBe(true);
          if (!('error' in result)) continue;
          expect(isKubeqaError(result.error) && result.error.code).toBe('KQ_ERR_DOWNLOAD');
          expect(result.error.message).toContain(`${tool.command} could not decompress the download: `);
          expect(result.bytes).toBeLessThanOrEqual(DATA.length);
        }
      }
    });
  }

  it('stops the tool when the stream is destroyed before its end (an aborted import)', async () => {
    requireCommand('xz', ['xz-utils']);
    const stream = decompressor('xz');
    const packed = execFileSync('xz', ['-c'], { input: DATA, maxBuffer: 64 * 1024 * 1024 });
    const running = () =>
      execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.startsWith('xz -d -c'));
    // half of the input, no end: the tool waits for more
    stream.write(packed.subarray(0, packed.length >> 1));
    stream.resume();
    expect(running()).toHaveLength(1);
    const closed = new Promise((resolve) => stream.once('close', resolve));
    const aborted = new Promise<Error>((resolve) => stream.once('error', resolve));
    stream.destroy();
    expect((await aborted).name).toBe('AbortError');
    await closed;
    // the kill is sent on close; the tool is gone once the kernel has reaped it
    expect(await waitUntil(() => running().length === 0, 10_000)).toBe(true);
  });

  it('names the package to install when the tool is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const result = await outcome(decompressor('zstd'), Buffer.from('anything'));
      expect('error' in result).toBe(true);
      if (!('error' in result)) return;
      expect(isKubeqaError(result.error) && result.error.code).toBe('KQ_ERR_MISSING_TOOL');
      expect(result.error.message).toContain("'zstd' is needed to decompress zstd");
      expect(result.error.message).toContain('apt-get install -y zstd');
    } finally {
      process.env.PATH = path;
    }
  });
});
