// One step in full: the screenshot with the matched needle's areas and their similarity, or for a
// failed match the candidates, side by side with the screen and as a difference image; text and
// serial results as text. Left/right arrow keys move between steps, Escape closes.
import { h, svg } from '../dom.js';
import { type Area, type Candidate, candidateSimilarity, type Step } from './job-types.js';

function overlay(img: HTMLImageElement, areas: Area[], kind: 'match' | 'candidate'): HTMLElement {
  const layer = svg('svg', { 'aria-hidden': 'true', preserveAspectRatio: 'none' });
  const draw = () => {
    layer.setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    layer.replaceChildren(
      ...areas.flatMap((a) => [
        svg('rect', {
          x: a.x,
          y: a.y,
          width: a.w,
          height: a.h,
          fill: 'none',
          stroke: a.result === 'ok' ? '#1fbf4a' : '#ff3355',
          'stroke-width': 2,
          class: `area area-${kind}`,
        }),
        svg(
          'text',
          {
            x: a.x,
            y: Math.max(10, a.y - 3),
            fill: a.result === 'ok' ? '#1fbf4a' : '#ff3355',
            'font-size': 12,
          },
          `${a.similarity}%`,
        ),
      ]),
    );
  };
  if (img.complete && img.naturalWidth > 0) draw();
  else img.addEventListener('load', draw, { once: true });
  return h('div', { class: 'shot' }, img, layer as unknown as Node);
}

function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load ${src}`));
    img.src = src;
  });
}

interface NeedleJson {
  area: { xpos: number; ypos: number; width: number; height: number; type?: string }[];
}

/** The screen dimmed, with each candidate area replaced by |screen − needle| (bright = different). */
async function differenceCanvas(
  screenSrc: string,
  needleSrc: string,
  needleJson: NeedleJson,
  candidate: Candidate,
): Promise<HTMLCanvasElement> {
  const [screen, needle] = await Promise.all([loadImage(screenSrc), loadImage(needleSrc)]);
  const canvas = h('canvas', {
    width: screen.naturalWidth,
    height: screen.naturalHeight,
    role: 'img',
    'aria-label': `Difference between the screen and ${candidate.name}`,
    'data-diff': candidate.name,
  });
  const c = canvas.getContext('2d') as CanvasRenderingContext2D;
  c.drawImage(screen, 0, 0);
  const base = c.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < base.data.length; i += 4) {
    base.data[i] = (base.data[i] ?? 0) * 0.25;
    base.data[i + 1] = (base.data[i + 1] ?? 0) * 0.25;
    base.data[i + 2] = (base.data[i + 2] ?? 0) * 0.25;
  }
  const n = document.createElement('canvas');
  n.width = needle.naturalWidth;
  n.height = needle.naturalHeight;
  const nc = n.getContext('2d') as CanvasRenderingContext2D;
  nc.drawImage(needle, 0, 0);
  const s = document.createElement('canvas');
  s.width = screen.naturalWidth;
  s.height = screen.naturalHeight;
  const sc = s.getContext('2d') as CanvasRenderingContext2D;
  sc.drawImage(screen, 0, 0);
  const matchAreas = needleJson.area.filter((a) => (a.type ?? 'match') === 'match');
  candidate.area.forEach((found, i) => {
    const src = matchAreas[i];
    if (!src) return;
    const w = Math.min(found.w, src.width);
    const hgt = Math.min(found.h, src.height);
    if (w <= 0 || hgt <= 0) return;
    const a = sc.getImageData(found.x, found.y, w, hgt).data;
    const b = nc.getImageData(src.xpos, src.ypos, w, hgt).data;
    for (let y = 0; y < hgt; y++) {
      for (let x = 0; x < w; x++) {
        const p = (y * w + x) * 4;
        const d =
          (Math.abs((a[p] ?? 0) - (b[p] ?? 0)) +
            Math.abs((a[p + 1] ?? 0) - (b[p + 1] ?? 0)) +
            Math.abs((a[p + 2] ?? 0) - (b[p + 2] ?? 0))) /
          3;
        const o = ((found.y + y) * canvas.width + found.x + x) * 4;
        base.data[o] = Math.min(255, 40 + d * 2);
        base.data[o + 1] = 40;
        base.data[o + 2] = 40;
      }
    }
  });
  c.putImageData(base, 0, 0);
  return canvas;
}

export function stepView(
  jobId: number,
  moduleName: string,
  step: Step,
  move: (delta: number) => void,
  close: () => void,
): HTMLElement {
  const title = `${moduleName}, step ${step.num}`;
  const screenSrc = step.screenshot ? `/api/v1/jobs/${jobId}/screenshots/${step.screenshot}` : '';
  const parts: Node[] = [];
  const details = step.details ?? {};
  if (step.screenshot && step.needle) {
    const img = h('img', { src: screenSrc, alt: `Screen of ${title}, matched by needle ${step.needle}` });
    parts.push(
      h(
        'p',
        { 'data-match': step.needle },
        `Matched needle ${step.needle} with similarity ${step.similarity ?? '?'}% (tags: ${(details.tags ?? []).join(', ')})`,
      ),
      overlay(img, details.area ?? [], 'match'),
    );
  } else if (step.screenshot) {
    const candidates = [...(details.needles ?? [])].sort(
      (a, b) => candidateSimilarity(b) - candidateSimilarity(a),
    );
    if (step.result === 'fail' && (details.tags?.length ?? 0) > 0) {
      parts.push(
        h(
          'p',
          {},
          `No needle matched the tag(s) ${(details.tags ?? []).join(', ')}.`,
          candidates.length === 0
            ? ' No candidate needle has these tags.'
            : ` ${candidates.length} candidate(s), closest first:`,
        ),
      );
    }
    const screenImg = h('img', { src: screenSrc, alt: `Screen of ${title}` });
    if (candidates.length === 0) parts.push(h('div', { class: 'shot' }, screenImg));
    else {
      const compare = h('div', { class: 'compare' });
      const show = async (c: Candidate) => {
        const needleSrc = `/api/v1/jobs/${jobId}/artefacts/needles/${encodeURIComponent(c.name)}.png`;
        const shot = overlay(
          h('img', { src: screenSrc, alt: `Screen of ${title} with the areas of ${c.name}` }),
          c.area,
          'candidate',
        );
        const needleImg = h('img', { src: needleSrc, alt: `Needle ${c.name}` });
        compare.replaceChildren(
          h(
            'div',
            { class: 'side' },
            h('figure', {}, shot, h('figcaption', {}, 'Screen, with where the candidate came closest')),
            h('figure', {}, h('div', { class: 'shot' }, needleImg), h('figcaption', {}, `Needle ${c.name}`)),
          ),
        );
        try {
          const json = (await (
            await fetch(`/api/v1/jobs/${jobId}/artefacts/needles/${encodeURIComponent(c.name)}.json`)
          ).json()) as NeedleJson;
          compare.append(
            h(
              'figure',
              {},
              await differenceCanvas(screenSrc, needleSrc, json, c),
              h('figcaption', {}, 'Difference in the needle areas (bright: different)'),
            ),
          );
        } catch {
          compare.append(
            h(
              'p',
              { class: 'muted' },
              'The needle files were not uploaded with the job: no difference view.',
            ),
          );
        }
      };
      const list = h(
        'fieldset',
        { class: 'candidates' },
        h('legend', {}, 'Candidate needles'),
        candidates.map((c, i) =>
          h(
            'label',
            { class: 'inline' },
            h('input', {
              type: 'radio',
              name: `candidate-${step.num}`,
              value: c.name,
              checked: i === 0,
              onchange: () => void show(c),
            }),
            `${c.name}: similarity ${candidateSimilarity(c)}%`,
          ),
        ),
      );
      parts.push(list, compare);
      void show(candidates[0] as Candidate);
    }
  }
  if (step.text) parts.push(h('pre', { 'aria-label': `Text of ${title}`, class: 'step-text' }, step.text));
  const view = h(
    'section',
    {
      class: 'stepview',
      'aria-label': title,
      tabindex: '-1',
      onkeydown: (e: Event) => {
        const key = (e as KeyboardEvent).key;
        if ((e.target as Element).closest('input, textarea, select')) return;
        if (key === 'ArrowRight') move(1);
        else if (key === 'ArrowLeft') move(-1);
        else if (key === 'Escape') close();
        else return;
        e.preventDefault();
      },
    },
    h(
      'div',
      { class: 'toolbar' },
      h(
        'h3',
        {},
        `${title}: ${step.title ?? step.kind} `,
        h('span', { class: `badge r-${step.result}` }, step.result),
      ),
      h('button', { type: 'button', onclick: () => move(-1), 'aria-label': 'Previous step' }, '← Previous'),
      h('button', { type: 'button', onclick: () => move(1), 'aria-label': 'Next step' }, 'Next →'),
      h('button', { type: 'button', onclick: close }, 'Close'),
    ),
    parts,
  );
  return view;
}
