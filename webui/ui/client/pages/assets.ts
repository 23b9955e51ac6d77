// Assets with size, last use and the groups that keep them.
import { get } from '../api.js';
import { formatSize, h } from '../dom.js';
import type { Page, PageContext } from '../page.js';

interface Asset {
  id: number;
  type: string;
  name: string;
  size: number | null;
  fixed: boolean;
  last_use_job_id: number | null;
  t_created: string;
  groups?: Record<string, unknown> | string[];
}

export function assetsPage(ctx: PageContext): Page {
  return {
    title: 'Assets',
    async show() {
      const { assets } = await get<{ assets: Asset[] }>('assets');
      const total = assets.reduce((sum, a) => sum + Number(a.size ?? 0), 0);
      ctx.root.append(
        h('h1', {}, 'Assets'),
        h('p', {}, `${assets.length} assets, ${formatSize(total)} in total.`),
        h(
          'table',
          {},
          h('caption', { class: 'visually-hidden' }, 'Assets'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Type', 'Name', 'Size', 'Last used by', 'Fixed'].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h(
            'tbody',
            {},
            assets.map((a) =>
              h(
                'tr',
                {},
                h('td', {}, a.type),
                h('td', {}, a.name),
                h('td', {}, formatSize(a.size)),
                h(
                  'td',
                  {},
                  a.last_use_job_id
                    ? h(
                        'a',
                        { href: `/tests/${a.last_use_job_id}`, 'data-link': true },
                        `job ${a.last_use_job_id}`,
                      )
                    : '—',
                ),
                h('td', {}, a.fixed ? 'yes' : 'no'),
              ),
            ),
          ),
        ),
      );
    },
  };
}
