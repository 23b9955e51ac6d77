// The live view: frames and progress over a websocket as the runner sends them (not polled).
import { h } from '../dom.js';

export function liveView(jobId: number): { element: HTMLElement; close(): void } {
  const img = h('img', { alt: `Live screen of job ${jobId}`, 'data-frames': '0', width: 720 });
  const status = h('p', { role: 'status' }, 'Connecting…');
  const serial = h('pre', { 'aria-label': 'Live serial log', tabindex: '0', class: 'serial' });
  let frames = 0;
  let url: string | undefined;
  let closed = false;
  const ws = new WebSocket(
    `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/jobs/${jobId}/live`,
  );
  ws.binaryType = 'blob';
  ws.addEventListener('open', () => {
    status.textContent = 'Waiting for the runner…';
  });
  ws.addEventListener('message', (m) => {
    if (m.data instanceof Blob) {
      const next = URL.createObjectURL(m.data);
      img.src = next;
      if (url) URL.revokeObjectURL(url);
      url = next;
      frames++;
      img.dataset.frames = String(frames);
      return;
    }
    const msg = JSON.parse(String(m.data)) as {
      type: string;
      status?: { module?: string; step?: number; activity?: string };
      serial?: string[];
      state?: string;
      result?: string;
      backlog?: boolean;
    };
    if (msg.type === 'status') {
      const s = msg.status ?? {};
      if (s.module)
        status.textContent = `Module ${s.module}${s.step ? `, step ${s.step}` : ''}${s.activity ? `: ${s.activity}` : ''}`;
      if (msg.serial?.length) {
        serial.textContent = `${msg.backlog ? '' : (serial.textContent ?? '')}${msg.serial.join('\n')}\n`
          .split('\n')
          .slice(-500)
          .join('\n');
        serial.scrollTop = serial.scrollHeight;
      }
    } else if (msg.type === 'end') {
      status.textContent = `The job ended: ${msg.state}, ${msg.result}.`;
      img.dataset.ended = 'true';
    }
  });
  ws.addEventListener('close', () => {
    if (!closed && img.dataset.ended !== 'true') status.textContent = 'The live connection closed.';
  });
  return {
    element: h('div', { class: 'live stack' }, status, img, h('h3', {}, 'Serial log'), serial),
    close() {
      closed = true;
      ws.close();
      if (url) URL.revokeObjectURL(url);
    },
  };
}
