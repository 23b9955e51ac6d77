// The job page: modules with step thumbnails and the step view, the live view of a running job,
// logs & assets, settings, the dependency graph, comments, and the operator's actions.
import { ApiError, currentSession, get, getText, mayAct, send } from '../api.js';
import { announce, badge, formatSize, h, outcome, put, svg } from '../dom.js';
import { debounce, type Page, type PageContext } from '../page.js';
import type { JobPageData, Module, Step } from './job-types.js';
import { liveView } from './live.js';
import { stepView } from './step-view.js';

const TABS = ['details', 'live', 'logs', 'settings', 'dependencies', 'comments'] as const;
type Tab = (typeof TABS)[number];
const TAB_LABEL: Record<Tab, string> = {
  details: 'Details',
  live: 'Live view',
  logs: 'Logs & assets',
  settings: 'Settings',
  dependencies: 'Dependencies',
  comments: 'Comments',
};
const RUNNING = new Set(['assigned', 'setup', 'running', 'uploading']);

export function jobPage(ctx: PageContext): Page {
  const id = Number(ctx.params[0]);
  let data: JobPageData | undefined;
  let tab: Tab = (ctx.query.get('tab') as Tab | null) ?? 'details';
  if (!TABS.includes(tab)) tab = 'details';
  let selected: { module: number; step: number } | undefined;
  let live: ReturnType<typeof liveView> | undefined;
  const head = h('div', {});
  const tablist = h('div', { role: 'tablist', 'aria-label': 'Job information' });
  const panels = new Map<Tab, HTMLElement>(
    TABS.map((t) => [
      t,
      h('section', { role: 'tabpanel', id: `panel-${t}`, 'aria-labelledby': `tab-${t}`, tabindex: '0' }),
    ]),
  );
  const message = h('p', { role: 'status', class: 'muted' });

  const act = async (what: string, fn: () => Promise<unknown>) => {
    try {
      const result = await fn();
      message.textContent = what;
      announce(what);
      return result;
    } catch (error) {
      message.textContent = `${what} failed: ${(error as Error).message}`;
      announce(message.textContent);
      return undefined;
    }
  };

  const renderHead = () => {
    if (!data) return;
    const job = data.job;
    const actions: Node[] = [];
    if (mayAct('operator')) {
      if (!['done', 'cancelled'].includes(job.state))
        actions.push(
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              onclick: () => void act(`Job ${id} cancelled`, () => send('POST', `jobs/${id}/cancel`)),
            },
            'Cancel job',
          ),
        );
      const skip = (name: string, label: string) =>
        h('label', { class: 'inline' }, h('input', { type: 'checkbox', name }), label);
      const restart = h(
        'form',
        {
          class: 'toolbar',
          'aria-label': 'Restart',
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const f = new FormData(e.target as HTMLFormElement);
            const body: Record<string, unknown> = {};
            for (const k of ['skip_parents', 'skip_children', 'skip_ok_result_children'])
              if (f.get(k)) body[k] = 1;
            const r = (await act(`Job ${id} restarted`, () => send('POST', `jobs/${id}/restart`, body))) as
              | { result: Record<string, number>[] }
              | undefined;
            const clone = r?.result.find((m) => String(id) in m)?.[String(id)];
            if (clone)
              message.replaceChildren(
                `Job ${id} restarted as `,
                h('a', { href: `/tests/${clone}`, 'data-link': true }, `job ${clone}`),
              );
          },
        },
        h('button', { type: 'submit' }, 'Restart'),
        skip('skip_parents', 'skip parents'),
        skip('skip_children', 'skip children'),
        skip('skip_ok_result_children', 'skip passed children'),
      );
      const prio = h(
        'form',
        {
          class: 'toolbar',
          'aria-label': 'Priority',
          onsubmit: (e: Event) => {
            e.preventDefault();
            const value = new FormData(e.target as HTMLFormElement).get('prio');
            void act(`Priority of job ${id} set to ${value}`, () =>
              send('POST', `jobs/${id}/prio`, { prio: Number(value) }),
            );
          },
        },
        h(
          'label',
          {},
          'Priority',
          h('input', {
            name: 'prio',
            type: 'number',
            value: job.priority,
            min: -100,
            max: 1000,
            required: true,
          }),
        ),
        h('button', { type: 'submit' }, 'Set priority'),
      );
      actions.push(restart, prio);
    }
    put(
      head,
      h('h1', {}, `Job ${job.id}: ${job.name}`),
      h(
        'p',
        { class: 'toolbar' },
        h('span', { 'data-outcome': outcome(job) }, badge(outcome(job))),
        h('span', {}, `state ${job.state}`),
        job.group
          ? h(
              'a',
              {
                href: `/build?group_id=${job.group_id}&build=${encodeURIComponent(job.settings.BUILD ?? '')}`,
                'data-link': true,
              },
              `${job.group}, build ${job.settings.BUILD ?? ''}`,
            )
          : null,
        h('span', { class: 'muted' }, `priority ${job.priority}`),
        job.clone_id
          ? h(
              'span',
              {},
              'Restarted as ',
              h(
                'a',
                { href: `/tests/${job.clone_id}`, 'data-link': true, 'data-clone': job.clone_id },
                `job ${job.clone_id}`,
              ),
            )
          : null,
      ),
      job.reason ? h('p', { class: 'notice' }, `Reason: ${job.reason}`) : null,
      actions.length > 0 ? h('div', { class: 'toolbar' }, actions) : null,
      message,
    );
  };

  const selectTab = (t: Tab, focus = false) => {
    tab = t;
    for (const button of tablist.querySelectorAll<HTMLButtonElement>('[role=tab]')) {
      const on = button.dataset.tab === t;
      button.setAttribute('aria-selected', String(on));
      button.tabIndex = on ? 0 : -1;
      if (on && focus) button.focus();
    }
    for (const [name, panel] of panels) panel.hidden = name !== t;
    const url = new URL(location.href);
    url.searchParams.set('tab', t);
    history.replaceState(null, '', url);
    if (t === 'live' && !live) {
      live = liveView(id);
      (panels.get('live') as HTMLElement).replaceChildren(live.element);
    }
    if (t === 'logs') void loadInlineLogs();
  };

  const renderTabs = () => {
    tablist.replaceChildren(
      ...TABS.map((t) =>
        h(
          'button',
          {
            type: 'button',
            role: 'tab',
            id: `tab-${t}`,
            'data-tab': t,
            'aria-controls': `panel-${t}`,
            onclick: () => selectTab(t),
            onkeydown: (e: Event) => {
              const k = (e as KeyboardEvent).key;
              const i = TABS.indexOf(t);
              const next =
                k === 'ArrowRight'
                  ? TABS[(i + 1) % TABS.length]
                  : k === 'ArrowLeft'
                    ? TABS[(i + TABS.length - 1) % TABS.length]
                    : undefined;
              if (next) {
                e.preventDefault();
                selectTab(next, true);
              }
            },
          },
          TAB_LABEL[t],
        ),
      ),
    );
  };

  const allSteps = (): { module: number; step: number }[] =>
    (data?.modules ?? []).flatMap((m, mi) => m.steps.map((_s, si) => ({ module: mi, step: si })));

  const renderDetails = () => {
    if (!data) return;
    const panel = panels.get('details') as HTMLElement;
    const focusedStep = (document.activeElement as HTMLElement | null)?.dataset?.step;
    const viewHost = h('div', {});
    const open = (pos: { module: number; step: number } | undefined, focusView = true) => {
      selected = pos;
      for (const b of panel.querySelectorAll<HTMLButtonElement>('button.step'))
        b.setAttribute(
          'aria-pressed',
          String(pos !== undefined && b.dataset.step === `${pos.module}:${pos.step}`),
        );
      if (!pos) {
        viewHost.replaceChildren();
        return;
      }
      const m = data?.modules[pos.module] as Module;
      const s = m.steps[pos.step] as Step;
      const view = stepView(
        id,
        m.name,
        s,
        (delta) => {
          const all = allSteps();
          const i = all.findIndex((p) => p.module === pos.module && p.step === pos.step);
          const next = all[Math.min(all.length - 1, Math.max(0, i + delta))];
          if (next) open(next);
        },
        () => {
          const back = panel.querySelector<HTMLButtonElement>(
            `button.step[data-step="${pos.module}:${pos.step}"]`,
          );
          open(undefined);
          back?.focus();
        },
      );
      viewHost.replaceChildren(view);
      if (focusView) view.focus();
    };
    put(
      panel,
      h('h2', { class: 'visually-hidden' }, 'Test modules'),
      data.modules.length === 0 ? h('p', { class: 'notice' }, 'No test module has reported yet.') : null,
      ...data.modules.map((m, mi) =>
        h(
          'article',
          { class: 'module', 'aria-label': `Module ${m.name}`, 'data-module': m.name },
          h(
            'header',
            {},
            h('h3', {}, `${m.category}/${m.name}`),
            badge(m.result),
            m.flags.length ? h('span', { class: 'muted' }, m.flags.join(', ')) : null,
          ),
          h(
            'ul',
            { class: 'steps', 'aria-label': `Steps of ${m.name}` },
            m.steps.map((s, si) =>
              h(
                'li',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: `step r-${s.result}${s.screenshot ? '' : ' text-step'}`,
                    'data-step': `${mi}:${si}`,
                    'aria-pressed': 'false',
                    'aria-label': `Step ${s.num} of ${m.name}: ${s.needle ? `needle ${s.needle}` : (s.title ?? s.kind)}, ${s.result}`,
                    onclick: () => open({ module: mi, step: si }),
                  },
                  s.screenshot
                    ? h('img', {
                        src: `/api/v1/jobs/${id}/screenshots/${s.screenshot}`,
                        alt: '',
                        loading: 'lazy',
                        width: 120,
                      })
                    : h('span', {}, s.title ?? s.kind),
                ),
              ),
            ),
          ),
        ),
      ),
      viewHost,
    );
    if (selected && data.modules[selected.module]?.steps[selected.step]) open(selected, false);
    if (focusedStep)
      panel.querySelector<HTMLButtonElement>(`button.step[data-step="${focusedStep}"]`)?.focus();
  };

  let inlineLoaded = false;
  const loadInlineLogs = async () => {
    if (inlineLoaded || !data) return;
    inlineLoaded = true;
    for (const pre of panels.get('logs')?.querySelectorAll<HTMLPreElement>('pre[data-file]') ?? []) {
      try {
        pre.textContent = await getText(`/api/v1/jobs/${id}/artefacts/${pre.dataset.file}`);
      } catch (error) {
        pre.textContent = (error as Error).message;
      }
    }
  };

  const renderLogs = () => {
    if (!data) return;
    inlineLoaded = false;
    const files = data.files.filter(
      (f) => !f.name.startsWith('testresults/') && !f.name.startsWith('needles/'),
    );
    const inline = files.filter((f) => ['autoinst-log.txt', 'serial0.txt'].includes(f.name));
    const video = files.find((f) => f.name === 'video.webm');
    put(
      panels.get('logs') as HTMLElement,
      h('h2', {}, 'Files'),
      files.length === 0
        ? h('p', { class: 'notice' }, 'No files were uploaded.')
        : h(
            'table',
            {},
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'File'),
                h('th', { scope: 'col' }, 'Size'),
                h('th', { scope: 'col' }, 'Type'),
              ),
            ),
            h(
              'tbody',
              {},
              files.map((f) =>
                h(
                  'tr',
                  {},
                  h(
                    'td',
                    {},
                    h(
                      'a',
                      { href: `/api/v1/jobs/${id}/artefacts/${f.name}`, download: f.name.split('/').pop() },
                      f.name,
                    ),
                  ),
                  h('td', {}, formatSize(f.size)),
                  h('td', {}, f.content_type),
                ),
              ),
            ),
          ),
      video
        ? h(
            'figure',
            {},
            h('video', {
              controls: true,
              preload: 'none',
              src: `/api/v1/jobs/${id}/artefacts/video.webm`,
              width: 640,
              'aria-label': 'Video of the job',
            }),
            h('figcaption', {}, 'Video of the job'),
          )
        : null,
      inline.map((f) => [
        h('h2', {}, f.name),
        h('pre', { 'data-file': f.name, 'aria-label': f.name, tabindex: '0' }, 'loading…'),
      ]),
    );
    if (tab === 'logs') void loadInlineLogs();
  };

  const renderSettings = () => {
    if (!data) return;
    const entries = Object.entries(data.job.settings).sort(([a], [b]) => a.localeCompare(b));
    (panels.get('settings') as HTMLElement).replaceChildren(
      h(
        'table',
        {},
        h('caption', { class: 'visually-hidden' }, 'Job settings'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Setting'), h('th', { scope: 'col' }, 'Value'))),
        h(
          'tbody',
          {},
          entries.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))),
        ),
      ),
    );
  };

  const renderDependencies = () => {
    if (!data) return;
    const { nodes, edges } = data.dependencies;
    const panel = panels.get('dependencies') as HTMLElement;
    if (nodes.length === 0) {
      panel.replaceChildren(h('p', { class: 'notice' }, 'This job has no dependencies.'));
      return;
    }
    // layered layout: a node's layer is the longest chain of parents above it
    const depth = new Map<number, number>(nodes.map((n) => [n.id, 0]));
    for (let i = 0; i < nodes.length; i++)
      for (const e of edges)
        depth.set(e.child, Math.max(depth.get(e.child) ?? 0, (depth.get(e.parent) ?? 0) + 1));
    const layers = new Map<number, number[]>();
    for (const n of nodes)
      layers.set(depth.get(n.id) ?? 0, [...(layers.get(depth.get(n.id) ?? 0) ?? []), n.id]);
    const W = 190;
    const H = 44;
    const pos = new Map<number, { x: number; y: number }>();
    for (const [d, ids] of layers)
      for (const [i, nid] of ids.entries()) pos.set(nid, { x: 10 + i * (W + 20), y: 10 + d * (H + 40) });
    const width = Math.max(...[...pos.values()].map((p) => p.x + W + 10));
    const height = Math.max(...[...pos.values()].map((p) => p.y + H + 10));
    const graph = svg('svg', {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: 'img',
      'aria-label': `Dependency graph of ${nodes.length} jobs`,
    });
    for (const e of edges) {
      const a = pos.get(e.parent);
      const b = pos.get(e.child);
      if (!a || !b) continue;
      graph.append(
        svg('path', {
          class: 'edge',
          d: `M${a.x + W / 2},${a.y + H} L${b.x + W / 2},${b.y}`,
          'stroke-dasharray': e.type === 'Parallel' ? '4 3' : '',
        }),
      );
    }
    for (const n of nodes) {
      const p = pos.get(n.id) as { x: number; y: number };
      graph.append(
        svg(
          'a',
          {
            href: `/tests/${n.id}`,
            'data-link': '',
            class: n.id === id ? 'current' : '',
            'aria-label': `job ${n.id} ${n.test}: ${outcome(n)}`,
          },
          svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
          svg('text', { x: p.x + 8, y: p.y + 18 }, `${n.id} ${n.test}`.slice(0, 28)),
          svg('text', { x: p.x + 8, y: p.y + 36 }, outcome(n)),
        ),
      );
    }
    panel.replaceChildren(
      h('div', { class: 'graph' }, graph as unknown as Node),
      h(
        'ul',
        {},
        edges.map((e) => h('li', {}, `job ${e.parent} → job ${e.child} (${e.type})`)),
      ),
    );
  };

  const renderComments = () => {
    if (!data) return;
    (panels.get('comments') as HTMLElement).replaceChildren(
      data.comments.length === 0
        ? h('p', { class: 'muted' }, 'No comments yet.')
        : h(
            'ol',
            { class: 'stack', 'aria-label': 'Comments' },
            data.comments.map((c) =>
              h(
                'li',
                { 'data-comment': c.id },
                h('strong', {}, c.user),
                ' ',
                h('time', { datetime: c.created }, c.created),
                h('p', {}, c.text),
              ),
            ),
          ),
      currentSession()
        ? h(
            'form',
            {
              class: 'stack',
              onsubmit: async (e: Event) => {
                e.preventDefault();
                const form = e.target as HTMLFormElement;
                const text = String(new FormData(form).get('text') ?? '').trim();
                if (!text) return;
                if (await act('Comment added', () => send('POST', `jobs/${id}/comments`, { text })))
                  form.reset();
              },
            },
            h('label', {}, 'New comment', h('textarea', { name: 'text', rows: 3, cols: 60, required: true })),
            h('button', { type: 'submit', class: 'primary' }, 'Add comment'),
          )
        : h('p', {}, h('a', { href: '/login', 'data-link': true }, 'Log in'), ' to comment.'),
    );
  };

  const load = async () => {
    try {
      data = await get<JobPageData>(`ui/jobs/${id}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        ctx.root.replaceChildren(
          h('h1', {}, `Job ${id}`),
          h('p', { class: 'error', role: 'alert' }, `Job ${id} does not exist.`),
        );
        return;
      }
      throw error;
    }
    renderHead();
    renderDetails();
    renderLogs();
    renderSettings();
    renderDependencies();
    renderComments();
    const liveTab = tablist.querySelector<HTMLElement>('#tab-live');
    if (liveTab) liveTab.hidden = !RUNNING.has(data.job.state) && !live;
    document.documentElement.dataset.jobState = data.job.state;
  };
  const refresh = debounce(() => void load(), 200);

  return {
    title: `Job ${id}`,
    async show() {
      renderTabs();
      ctx.root.append(head, tablist, ...panels.values());
      await load();
      if (tab === 'live' && data && !RUNNING.has(data.job.state)) tab = 'details';
      selectTab(tab);
    },
    event(e) {
      const related =
        e.id === id ||
        e.type === 'reconnected' ||
        // a restart creates the clone: a finished job learns its clone_id
        (e.type === 'job.created' && ['done', 'cancelled'].includes(data?.job.state ?? '')) ||
        (e.id !== undefined && data?.dependencies.nodes.some((n) => n.id === e.id));
      if (related) refresh();
    },
    leave() {
      live?.close();
    },
  };
}
