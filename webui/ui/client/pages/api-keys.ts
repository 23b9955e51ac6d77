// Your API keys: create (optionally expiring), see, delete.
import { currentSession, get, send } from '../api.js';
import { h } from '../dom.js';
import type { Page, PageContext } from '../page.js';

interface Key {
  id: number;
  key: string;
  secret: string;
  t_expiration: string | null;
  t_created: string;
}

export function apiKeysPage(ctx: PageContext): Page {
  const body = h('div', {});
  const load = async () => {
    const { api_keys } = await get<{ api_keys: Key[] }>('users/me/api_keys');
    body.replaceChildren(
      api_keys.length === 0
        ? h('p', { class: 'notice' }, 'You have no API key.')
        : h(
            'table',
            {},
            h('caption', { class: 'visually-hidden' }, 'Your API keys'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Key', 'Secret', 'Expires', 'Created', 'Actions'].map((c) => h('th', { scope: 'col' }, c)),
              ),
            ),
            h(
              'tbody',
              {},
              api_keys.map((k) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('code', {}, k.key)),
                  h('td', {}, h('code', {}, k.secret)),
                  h('td', {}, k.t_expiration ?? 'never'),
                  h('td', {}, k.t_created),
                  h(
                    'td',
                    {},
                    h(
                      'button',
                      {
                        type: 'button',
                        class: 'danger',
                        'aria-label': `Delete key ${k.key}`,
                        onclick: async () => {
                          await send('DELETE', `users/me/api_keys/${k.id}`);
                          await load();
                        },
                      },
                      'Delete',
                    ),
                  ),
                ),
              ),
            ),
          ),
    );
  };
  return {
    title: 'API keys',
    async show() {
      ctx.root.append(h('h1', {}, 'API keys'));
      if (!currentSession()) {
        ctx.root.append(
          h(
            'p',
            {},
            h('a', { href: '/login?next=/admin/api_keys', 'data-link': true }, 'Log in'),
            ' to see your API keys.',
          ),
        );
        return;
      }
      ctx.root.append(
        h(
          'form',
          {
            class: 'toolbar',
            onsubmit: async (e: Event) => {
              e.preventDefault();
              const exp = String(new FormData(e.target as HTMLFormElement).get('t_expiration') ?? '');
              await send('POST', 'users/me/api_keys', exp ? { t_expiration: exp } : {});
              await load();
            },
          },
          h('label', {}, 'Expires (optional)', h('input', { type: 'date', name: 't_expiration' })),
          h('button', { type: 'submit', class: 'primary' }, 'Create API key'),
        ),
        body,
      );
      await load();
    },
  };
}
