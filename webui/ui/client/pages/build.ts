// One build: scenarios (test, flavor) × machines, each cell the latest job's outcome.

import type { BuildJob } from '../../view-types.js';
import { get } from '../api.js';
import { badge, h, outcome } from '../dom.js';
import { debounce, type Page, type PageContext } from '../page.js';

export function buildPage(ctx: PageContext): Page {
  const build = ctx.query.get('build') ?? '';
  const groupId = ctx.query.get('group_id');
  const body = h('div', {});
  let ids = new Set<number>();
  const load = async () => {
    const q = new URLSearchParams({ build });
    if (groupId) q.set('group_id', groupId);
    const data = await get<{ group: { name: string } | null; jobs: BuildJob[] }>(`ui/build?${q}`);
    ids = new Set(data.jobs.map((j) => j.id));
    const machines = [...new Set(data.jobs.map((j) => `${j.arch} ${j.machine}`))].sort();
    const scenarios = new Map<string, Map<string, BuildJob>>();
    for (const j of data.jobs) {
      const key = `${j.distri}-${j.version}-${j.flavor} ${j.test}`;
      const row = scenarios.get(key) ?? new Map<string, BuildJob>();
      if (!row.has(`${j.arch} ${j.machine}`)) row.set(`${j.arch} ${j.machine}`, j);
      scenarios.set(key, row);
    }
    body.replaceChildren(
      h('h1', {}, `Build ${build}${data.group ? ` of ${data.group.name}` : ''}`),
      data.jobs.length === 0
        ? h('p', { class: 'notice' }, 'This build has no jobs.')
        : h(
            'table',
            { class: 'matrix' },
            h('caption', { class: 'visually-hidden' }, 'Scenarios by machine'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Scenario'),
                machines.map((m) => h('th', { scope: 'col' }, m)),
              ),
            ),
            h(
              'tbody',
              {},
              [...scenarios.entries()].map(([name, row]) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, name),
                  machines.map((m) => {
                    const j = row.get(m);
                    return h(
                      'td',
                      {},
                      j
                        ? h(
                            'a',
                            {
                              href: `/tests/${j.id}`,
                              'data-link': true,
                              'aria-label': `${j.test} on ${m}: ${outcome(j)} (job ${j.id})`,
                            },
                            badge(outcome(j)),
                          )
                        : h('span', { class: 'muted' }, '—'),
                    );
                  }),
                ),
              ),
            ),
          ),
    );
  };
  const refresh = debounce(() => void load(), 300);
  return {
    title: `Build ${build}`,
    async show() {
      ctx.root.append(body);
      await load();
    },
    event(e) {
      if (e.type === 'job.created' || e.type === 'reconnected' || (e.id !== undefined && ids.has(e.id)))
        refresh();
    },
  };
}
