// Log in with a local account.
import { login } from '../api.js';
import { h } from '../dom.js';
import type { Page, PageContext } from '../page.js';

export function loginPage(ctx: PageContext): Page {
  return {
    title: 'Log in',
    async show() {
      const error = h('p', { role: 'alert' });
      const form = h(
        'form',
        {
          class: 'stack',
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const f = new FormData(e.target as HTMLFormElement);
            try {
              await login(String(f.get('username')), String(f.get('password')));
              window.dispatchEvent(new Event('kubeqa-session'));
              ctx.navigate(ctx.query.get('next') ?? '/tests');
            } catch (err) {
              error.className = 'error';
              error.textContent = (err as Error).message;
            }
          },
        },
        h(
          'div',
          {},
          h(
            'label',
            {},
            'User name',
            h('input', { name: 'username', autocomplete: 'username', required: true }),
          ),
        ),
        h(
          'div',
          {},
          h(
            'label',
            {},
            'Password',
            h('input', {
              name: 'password',
              type: 'password',
              autocomplete: 'current-password',
              required: true,
            }),
          ),
        ),
        h('button', { type: 'submit', class: 'primary' }, 'Log in'),
        error,
      );
      ctx.root.append(h('h1', {}, 'Log in'), form);
      form.querySelector('input')?.focus();
    },
  };
}
