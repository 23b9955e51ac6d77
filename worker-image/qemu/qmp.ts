// QMP, QEMU's JSON machine protocol, over its unix socket: the greeting, capability negotiation,
// commands with ids, and asynchronous events (SHUTDOWN, RESET, STOP, …) delivered to listeners.
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { KubeqaError } from '../../domain/errors.js';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpStatus {
  running: boolean;
  status: string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  command: string;
}

export class QmpClient {
  readonly events = new EventEmitter();
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private greeting: (() => void) | undefined;
  /** Every event seen so far, so a waiter that starts late does not miss one. */
  readonly seen: QmpEvent[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose());
    socket.on('error', () => this.onClose());
  }

  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new QmpClient(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new KubeqaError('KQ_ERR_QEMU', `no QMP greeting on ${path} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      client.greeting = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    await client.execute('qmp_capabilities');
    return client;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
      newline = this.buffer.indexOf('\n');
    }
  }

  private onMessage(message: Record<string, unknown>): void {
    if ('QMP' in message) {
      this.greeting?.();
      this.greeting = undefined;
      return;
    }
    if (typeof message.event === 'string') {
      const event = message as unknown as QmpEvent;
      this.seen.push(event);
      this.events.emit('event', event);
      this.events.emit(event.event, event);
      return;
    }
    const id = String(message.id ?? '');
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      pending.reject(
        new KubeqaError(
          'KQ_ERR_QEMU',
          `QMP ${pending.command} failed: ${error.class ?? ''} ${error.desc ?? ''}`,
        ),
      );
    } else {
      pending.resolve(message.return);
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this.pending.values()) {
      pending.reject(new KubeqaError('KQ_ERR_QEMU', `QMP connection closed during ${pending.command}`));
    }
    this.pending.clear();
    this.events.emit('close');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) {
      return Promise.reject(new KubeqaError('KQ_ERR_QEMU', `QMP ${command}: connection is closed`));
    }
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, command });
      this.socket.write(
        `${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`,
      );
    });
  }

  /** Resolve with the first event named `name` seen after `fromIndex` in `seen` (default: now). */
  waitForEvent(name: string, timeoutMs: number, fromIndex = this.seen.length): Promise<QmpEvent | undefined> {
    const earlier = this.seen.slice(fromIndex).find((e) => e.event === name);
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve) => {
      const onEvent = (event: QmpEvent) => {
        cleanup();
        resolve(event);
      };
      const onClose = () => {
        cleanup();
        resolve(undefined);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(undefined);
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off(name, onEvent);
        this.events.off('close', onClose);
      };
      this.events.on(name, onEvent);
      this.events.once('close', onClose);
    });
  }

  queryStatus(): Promise<QmpStatus> {
    return this.execute<QmpStatus>('query-status');
  }

  cont(): Promise<void> {
    return this.execute('cont');
  }

  stop(): Promise<void> {
    return this.execute('stop');
  }

  /** ACPI power button. */
  powerdown(): Promise<void> {
    return this.execute('system_powerdown');
  }

  reset(): Promise<void> {
    return this.execute('system_reset');
  }

  /** Stop QEMU at once (the "power off" of the plug). */
  quit(): Promise<void> {
    return this.execute('quit');
  }

  eject(device: string, force = true): Promise<void> {
    return this.execute('eject', { id: device, force });
  }

  /** Write the screen to a file (PPM, or PNG where QEMU supports it). */
  screendump(filename: string, format: 'ppm' | 'png' = 'ppm'): Promise<void> {
    return this.execute('screendump', format === 'ppm' ? { filename } : { filename, format });
  }

  close(): void {
    this.socket.destroy();
    this.onClose();
  }
}
