// Boot a QEMU guest for a test, with its first serial port on a unix socket the test reads and
// writes. QEMU waits for the test to connect before it runs the guest, so no output is lost.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ManagedProcess, spawnService, waitUntilReady } from './processes.js';
import type { QemuInfo } from './services/qemu.js';

export interface GuestOptions {
  kernel: string;
  initrd: string;
  append: string;
  memoryMb?: number;
  cpus?: number;
  extraArgs?: string[];
}

export interface SerialConsole {
  /** Everything the guest wrote so far. */
  text(): string;
  write(data: string): void;
  /** Resolve when the output after `from` matches; reject after timeoutMs with what was seen. */
  waitFor(pattern: RegExp, timeoutMs: number, from?: number): Promise<RegExpExecArray>;
}

export interface Guest {
  proc: ManagedProcess;
  serial: SerialConsole;
  stop(): Promise<void>;
}

function serialConsole(socket: Socket): SerialConsole {
  let buffer = '';
  const waiters = new Set<() => void>();
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (const wake of waiters) wake();
  });
  return {
    text: () => buffer,
    write: (data) => socket.write(data),
    waitFor(pattern, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(buffer.slice(from));
          if (!match) return false;
          done();
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `serial: ${pattern} not seen within ${timeoutMs} ms; last output:\n${buffer.slice(-1500)}`,
            ),
          );
        }, timeoutMs);
        const wake = () => void check();
        const done = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        waiters.add(wake);
        check();
      });
    },
  };
}

export async function bootGuest(qemu: QemuInfo, options: GuestOptions): Promise<Guest> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-guest-'));
  const socketPath = join(dir, 'serial0.sock');
  const proc = spawnService(
    'qemu',
    qemu.qemu,
    [
      '-accel',
      qemu.accel,
      '-m',
      String(options.memoryMb ?? 256),
      '-smp',
      String(options.cpus ?? 2),
      '-kernel',
      options.kernel,
      '-initrd',
      options.initrd,
      '-append',
      options.append,
      '-display',
      'none',
      '-monitor',
      'none',
      '-no-reboot',
      '-chardev',
      `socket,id=serial0,path=${socketPath},server=on,wait=on`,
      '-serial',
      'chardev:serial0',
      ...(options.extraArgs ?? []),
    ],
    { cwd: dir },
  );
  await waitUntilReady(proc, 'serial socket exists', async () => existsSync(socketPath), 30_000, 20);
  const socket = createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    proc,
    serial: serialConsole(socket),
    async stop() {
      socket.destroy();
      await proc.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
