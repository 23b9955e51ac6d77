// A serial port of the guest on a unix socket: everything it prints is kept (and appended to a
// log file such as serial0.txt); tests wait for regular expressions in what arrives. Terminal
// queries that interactive shells send (busybox ash asks for the cursor position with ESC[6n)
// are answered so the shell never waits, and left out of the text that patterns are matched on.
import { createWriteStream, type WriteStream } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { KubeqaError } from '../../domain/errors.js';

/** ESC[6n: "where is the cursor?" */
const CURSOR_QUERY = '\x1b[6n';

export class SerialConsole {
  private buffer = '';
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private readonly log: WriteStream | undefined;
  private pendingTail = '';

  private constructor(
    private readonly socket: Socket,
    logPath?: string,
  ) {
    this.log = logPath ? createWriteStream(logPath, { flags: 'a' }) : undefined;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const onEnd = () => {
      this.closed = true;
      for (const wake of this.waiters) wake();
    };
    socket.on('close', onEnd);
    socket.on('error', onEnd);
  }

  static async connect(path: string, logPath?: string): Promise<SerialConsole> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new SerialConsole(socket, logPath);
  }

  private onData(chunk: string): void {
    this.log?.write(Buffer.from(chunk, 'latin1'));
    // A query may be split across chunks: keep a short unfinished tail for the next one.
    let text = this.pendingTail + chunk;
    this.pendingTail = '';
    const escAt = text.lastIndexOf('\x1b');
    if (
      escAt >= 0 &&
      escAt > text.length - CURSOR_QUERY.length &&
      CURSOR_QUERY.startsWith(text.slice(escAt))
    ) {
      this.pendingTail = text.slice(escAt);
      text = text.slice(0, escAt);
    }
    let queries = 0;
    text = text.replaceAll(CURSOR_QUERY, () => {
      queries++;
      return '';
    });
    for (let i = 0; i < queries; i++) this.socket.write('\x1b[1;1R');
    this.buffer += Buffer.from(text, 'latin1').toString('utf8');
    for (const wake of this.waiters) wake();
  }

  /** Everything received so far (cursor queries removed). */
  text(): string {
    return this.buffer;
  }

  /** Offset to pass as `from` to wait for output that arrives after now. */
  get position(): number {
    return this.buffer.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: string): void {
    if (this.closed) throw new KubeqaError('KQ_ERR_QEMU', 'the serial console is closed');
    this.socket.write(Buffer.from(data, 'utf8'));
  }

  /**
   * Resolve with the first match of `pattern` in the text after `from`, or undefined after
   * timeoutMs (or when the console closes). The match's index is relative to `from`.
   */
  waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray | undefined> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(
          this.buffer.slice(from),
        );
        if (match) {
          done();
          resolve(match);
          return true;
        }
        if (this.closed) {
          done();
          resolve(undefined);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      const wake = () => void check();
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
      check();
    });
  }

  async close(): Promise<void> {
    this.socket.destroy();
    this.closed = true;
    if (this.log) await new Promise<void>((resolve) => this.log?.end(resolve));
  }
}
