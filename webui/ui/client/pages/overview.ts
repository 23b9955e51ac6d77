// The test overview: per job group its newest builds with result counts; filters in the address.

import type { GroupOverview } from '../../view-types.js';
import { get } from '../api.js';
import { badge, h } from '../dom.js';
import { debounce, type Page, type PageContext } from '../page.js';

const FILTERS = ['distri', 'version', 'flavor', 'arch'] as const;
const RESULTS = ['', 'passed', 'softfailed', 'failed', 'incomplete', 'user_cancelled', 'timeout_exceeded'];
const COUNTS = ['passed', 'softfailed', 'failed', 'incomplete', 'running', 'scheduled', 'cancelled'] as const;

export function overviewPage(ctx: PageContext): Page {
  const results = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' });
  const load = async () => {
    const q = new URLSearchParams();
    for (const [k, v] of ctx.query) if (v) q.set(k, v);
    const { groups } = await get<{ groups: GroupOverview[] }>(`ui/overview?${q}`);
    results.replaceChildren(
      ...(groups.length === 0 ? [h('p', { class: 'notice' }, 'No builds match.')] : []),
      ...groups.map((g) =>
        h(
          'section',
          { 'aria-labelledby': `group-${g.id}` },
          h('h2', { id: `group-${g.id}` }, g.name),
          h(
            'table',
            {},
            h('caption', { class: 'visually-hidden' }, `Newest builds of ${g.name}`),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Build'),
                h('th', { scope: 'col' }, 'Version'),
                h('th', { scope: 'col' }, 'Results'),
                h('th', { scope: 'col' }, 'Newest job'),
              ),
            ),
            h(
              'tbody',
              {},
              g.builds.map((b) =>
                h(
                  'tr',
                  { 'data-build': b.build },
                  h(
                    'td',
                    {},
                    h(
                      'a',
                      {
                        href: `/build?group_id=${g.id}&build=${encodeURIComponent(b.build)}`,
                        'data-link': true,
                      },
                      `Build ${b.build}`,
                    ),
                  ),
                  h('td', {}, `${b.distri} ${b.version}`),
                  h(
                    'td',
                    {},
                    h(
                      'span',
                      { class: 'counts' },
                      COUNTS.filter((k) => b[k] > 0).map((k) =>
                        badge(k === 'cancelled' ? 'cancelled' : k, `${b[k]} ${k}`),
                      ),
                      h('span', { class: 'muted' }, `of ${b.total}`),
                    ),
                  ),
                  h(
                    'td',
                    {},
                    h('a', { href: `/tests/${b.newest_job}`, 'data-link': true }, `job ${b.newest_job}`),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    results.setAttribute('aria-busy', 'false');
  };
  const refresh = debounce(() => void load(), 500);
  return {
    title: 'Test overview',
    async show() {
      const form = h(
        'form',
        {
          class: 'filters',
          role: 'search',
          'aria-label': 'Filter builds',
          onsubmit: (e: Event) => {
            e.preventDefault();
            const data = new FormData(e.target as HTMLFormElement);
            const q = new URLSearchParams();
            for (const [k, v] of data) if (String(v)) q.set(k, String(v));
            ctx.navigate(`/tests?${q}`);
          },
        },
        FILTERS.map((f) =>
          h(
            'label',
            {},
            f[0]?.toUpperCase() + f.slice(1),
            h('input', { name: f, value: ctx.query.get(f) ?? '', size: 10 }),
          ),
        ),
        h(
          'label',
          {},
          'Result',
          h(
            'select',
            { name: 'result' },
            RESULTS.map((r) =>
              h('option', { value: r, selected: (ctx.query.get('result') ?? '') === r }, r || 'any'),
            ),
          ),
        ),
        h('button', { type: 'submit', class: 'primary' }, 'Filter'),
      );
      ctx.root.append(h('h1', {}, 'Test overview'), form, results);
      await load();
    },
    event(e) {
      // after a reconnect, re-read: events sent while the connection was down are lost
      if (e.type === 'reconnected' || (e.type.startsWith('job.') && e.type !== 'job.comment')) refresh();
    },
  };
}
