// Workers with their state and current job.
import { get } from '../api.js';
import { badge, h } from '../dom.js';
import { debounce, type Page, type PageContext } from '../page.js';

interface Worker {
  id: number;
  name: string;
  alive: number;
  error: string | null;
  jobid: number | null;
  properties: Record<string, string>;
  t_seen: string | null;
}

/** A place the scheduler runs jobs: a local executor slot, or a slot of a Worker pool. */
interface Slot {
  id: string;
  pool: string;
  classes: string[];
  alive: number;
  jobs: number[];
  last_seen: string;
}

function slotsTable(slots: Slot[]) {
  if (slots.length === 0) return h('p', { class: 'notice' }, 'No slot is registered.');
  return h(
    'table',
    {},
    h('caption', { class: 'visually-hidden' }, 'Slots by pool'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Pool', 'Slot', 'State', 'Current job', 'Classes', 'Last report'].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      slots.map((slot) =>
        h(
          'tr',
          {},
          h('td', {}, slot.pool),
          h('td', {}, slot.id),
          h(
            'td',
            {},
            slot.alive
              ? badge(slot.jobs.length > 0 ? 'running' : 'passed', slot.jobs.length > 0 ? 'working' : 'idle')
              : badge('none', 'not reporting'),
          ),
          h(
            'td',
            {},
            slot.jobs.length === 0
              ? '—'
              : slot.jobs.map((id) => h('a', { href: `/tests/${id}`, 'data-link': true }, `job ${id} `)),
          ),
          h('td', {}, slot.classes.join(', ')),
          h('td', {}, slot.last_seen),
        ),
      ),
    ),
  );
}

export function workersPage(ctx: PageContext): Page {
  const body = h('div', {});
  const load = async () => {
    const { workers, slots } = await get<{ workers: Worker[]; slots?: Slot[] }>('workers');
    body.replaceChildren(
      h('h2', {}, 'Slots (pools)'),
      slotsTable(slots ?? []),
      h('h2', {}, 'Registered workers'),
      workers.length === 0
        ? h('p', { class: 'notice' }, 'No worker has registered.')
        : h(
            'table',
            {},
            h('caption', { class: 'visually-hidden' }, 'Workers'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Worker', 'State', 'Current job', 'Class', 'Last seen'].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              workers.map((w) =>
                h(
                  'tr',
                  {},
                  h('td', {}, w.name),
                  h(
                    'td',
                    {},
                    w.error
                      ? badge('failed', `broken: ${w.error}`)
                      : w.alive
                        ? badge(w.jobid ? 'running' : 'passed', w.jobid ? 'working' : 'idle')
                        : badge('none', 'offline'),
                  ),
                  h(
                    'td',
                    {},
                    w.jobid
                      ? h('a', { href: `/tests/${w.jobid}`, 'data-link': true }, `job ${w.jobid}`)
                      : '—',
                  ),
                  h('td', {}, w.properties.WORKER_CLASS ?? ''),
                  h('td', {}, w.t_seen ?? 'never'),
                ),
              ),
            ),
          ),
    );
  };
  const refresh = debounce(() => void load(), 500);
  return {
    title: 'Workers',
    async show() {
      ctx.root.append(h('h1', {}, 'Workers'), body);
      await load();
    },
    event(e) {
      if (e.type === 'job.state' || e.type === 'reconnected') refresh();
    },
  };
}
