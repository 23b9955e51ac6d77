// The RFB zlib encoding (number 6): each rectangle is a 4-byte length and that many bytes of one
// deflate stream that lasts the whole connection (the server flushes after every rectangle), and
// the inflated bytes are the rectangle's raw pixels. One inflate stream per connection, fed in
// order; the rectangle is complete when its width × height × 4 bytes have come out.
import { createInflate, type Inflate } from 'node:zlib';
import { KubeqaError } from '../../domain/errors.js';

export const ENCODING_ZLIB = 6;

interface Pending {
  need: number;
  got: number;
  chunks: Buffer[];
  resolve: (data: Buffer) => void;
  reject: (error: Error) => void;
}

export class ZlibRectDecoder {
  private readonly stream: Inflate = createInflate();
  private pending: Pending | undefined;
  private failed: Error | undefined;

  constructor() {
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('error', (error: Error) =>
      this.fail(new KubeqaError('KQ_ERR_QEMU', `VNC zlib data is corrupt: ${error.message}`)),
    );
  }

  /** Inflate one rectangle's compressed bytes into exactly `size` bytes of pixels. */
  inflate(compressed: Buffer, size: number): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.pending) {
      return Promise.reject(new KubeqaError('KQ_ERR_QEMU', 'VNC zlib rectangles overlap'));
    }
    const result = new Promise<Buffer>((resolve, reject) => {
      this.pending = { need: size, got: 0, chunks: [], resolve, reject };
    });
    if (size === 0) this.finish();
    this.stream.write(compressed);
    return result;
  }

  close(): void {
    this.fail(new KubeqaError('KQ_ERR_QEMU', 'the VNC connection closed'));
    this.stream.destroy();
  }

  private onData(chunk: Buffer): void {
    const pending = this.pending;
    if (!pending) {
      this.fail(new KubeqaError('KQ_ERR_QEMU', 'VNC zlib stream produced pixels for no rectangle'));
      return;
    }
    pending.chunks.push(chunk);
    pending.got += chunk.length;
    if (pending.got > pending.need) {
      this.fail(
        new KubeqaError('KQ_ERR_QEMU', `VNC zlib rectangle inflated to more than its ${pending.need} bytes`),
      );
    } else if (pending.got === pending.need) {
      this.finish();
    }
  }

  private finish(): void {
    const pending = this.pending as Pending;
    this.pending = undefined;
    pending.resolve(
      pending.chunks.length === 1 ? (pending.chunks[0] as Buffer) : Buffer.concat(pending.chunks),
    );
  }

  private fail(error: Error): void {
    this.failed ??= error;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }
}
