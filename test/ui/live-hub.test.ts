// The live view's fan-out without a server: every viewer gets frames and status, a viewer that
// is behind skips frames instead of queueing them, a late viewer starts from the newest frame and
// the serial backlog, and the end of the job is announced and forgets the job.
import { describe, expect, it } from 'vitest';
import { LiveHub, type LiveSocket } from '../../webui/ui/live-hub.js';

class Viewer implements LiveSocket {
  readonly sent: (string | Buffer)[] = [];
  bufferedAmount = 0;
  readyState = 1;
  send(data: string | Buffer): void {
    this.sent.push(data);
  }
  frames(): Buffer[] {
    return this.sent.filter((d): d is Buffer => Buffer.isBuffer(d));
  }
  messages(): { type: string; serial?: string[]; backlog?: boolean; state?: string }[] {
    return this.sent.filter((d): d is string => typeof d === 'string').map((d) => JSON.parse(d));
  }
}

const frame = (n: number) => Buffer.from([0x89, 0x50, n]);

describe('LiveHub', () => {
  it('sends each frame once to every viewer and skips viewers that are behind', () => {
    const hub = new LiveHub();
    const a = new Viewer();
    const b = new Viewer();
    hub.watch(7, a);
    hub.watch(7, b);
    hub.frame(7, frame(1));
    b.bufferedAmount = 10 * 1024 * 1024; // b's network is slow
    hub.frame(7, frame(2));
    b.bufferedAmount = 0;
    hub.frame(7, frame(3));
    expect(a.frames()).toEqual([frame(1), frame(2), frame(3)]);
    expect(b.frames()).toEqual([frame(1), frame(3)]);
    expect(hub.stats(7)).toEqual({ frames: 3, viewers: 2 });
  });

  it('gives a late viewer the newest frame and the serial backlog, then only new lines', () => {
    const hub = new LiveHub();
    hub.frame(1, frame(1));
    hub.frame(1, frame(2));
    hub.status(1, { module: 'boot' }, ['line 1', 'line 2']);
    const late = new Viewer();
    hub.watch(1, late);
    expect(late.frames()).toEqual([frame(2)]);
    expect(late.messages()[0]).toMatchObject({ type: 'status', serial: ['line 1', 'line 2'], backlog: true });
    hub.status(1, { step: 3 }, ['line 3']);
    expect(late.messages()[1]).toMatchObject({
      type: 'status',
      status: { module: 'boot', step: 3 },
      serial: ['line 3'],
    });
  });

  it('announces the end of the job and forgets it; closed viewers get nothing', () => {
    const hub = new LiveHub();
    const open = new Viewer();
    const closed = new Viewer();
    hub.watch(2, open);
    const unwatch = hub.watch(2, closed);
    closed.readyState = 3;
    hub.frame(2, frame(1));
    expect(closed.frames()).toEqual([]);
    unwatch();
    hub.end(2, 'cancelled', 'user_cancelled');
    expect(open.messages().at(-1)).toEqual({ type: 'end', state: 'cancelled', result: 'user_cancelled' });
    expect(hub.stats(2)).toEqual({ frames: 0, viewers: 0 });
  });
});
