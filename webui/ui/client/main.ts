// The UI's entry: theme, session, the router (pages by address, links without reloads) and the
// event stream that keeps every open page current.
import { currentSession, loadSession, logout } from './api.js';
import { h } from './dom.js';
import type { Page, PageContext } from './page.js';
import { apiKeysPage } from './pages/api-keys.js';
import { assetsPage } from './pages/assets.js';
import { buildPage } from './pages/build.js';
import { groupPage, groupsPage } from './pages/groups.js';
import { jobPage } from './pages/job.js';
import { loginPage } from './pages/login.js';
import { overviewPage } from './pages/overview.js';
import { workersPage } from './pages/workers.js';
import './style.css';

interface Route {
  pattern: RegExp;
  page: (ctx: PageContext) => Page;
}

const ROUTES: Route[] = [
  { pattern: /^\/(tests)?$/, page: overviewPage },
  { pattern: /^\/build$/, page: buildPage },
  { pattern: /^\/tests\/(\d+)$/, page: jobPage },
  { pattern: /^\/login$/, page: loginPage },
  { pattern: /^\/admin\/workers$/, page: workersPage },
  { pattern: /^\/admin\/assets$/, page: assetsPage },
  { pattern: /^\/admin\/groups$/, page: groupsPage },
  { pattern: /^\/admin\/groups\/(\d+)$/, page: groupPage },
  { pattern: /^\/admin\/api_keys$/, page: apiKeysPage },
];

let current: Page | undefined;
const main = document.getElementById('main') as HTMLElement;

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  void render();
}

async function render(): Promise<void> {
  current?.leave?.();
  current = undefined;
  const path = location.pathname;
  const route = ROUTES.find((r) => r.pattern.test(path));
  main.replaceChildren();
  if (!route) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, `There is no page at ${path}.`));
    return;
  }
  const params = route.pattern.exec(path)?.slice(1) ?? [];
  const page = route.page({ params, query: new URLSearchParams(location.search), navigate, root: main });
  current = page;
  document.title = `${page.title} · kubeqa`;
  try {
    await page.show();
  } catch (error) {
    main.append(h('p', { class: 'error', role: 'alert' }, (error as Error).message));
  }
  for (const a of document.querySelectorAll('.top nav a')) {
    const href = a.getAttribute('href') ?? '';
    if (path.startsWith(href) || (href === '/tests' && (path === '/' || path === '/build')))
      a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function showSession(): void {
  const who = document.getElementById('who') as HTMLElement;
  const s = currentSession();
  if (s) {
    who.replaceChildren(
      h('span', {}, `${s.user} (${s.role}) `),
      h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            await logout();
            showSession();
            void render();
          },
        },
        'Log out',
      ),
    );
  } else who.replaceChildren(h('a', { href: '/login', 'data-link': true }, 'Log in'));
}

function setupTheme(): void {
  const button = document.getElementById('theme') as HTMLButtonElement;
  const apply = (theme: string) => {
    document.documentElement.dataset.theme = theme;
    button.setAttribute('aria-pressed', String(theme === 'dark'));
  };
  const stored = localStorage.getItem('kubeqa-theme');
  apply(stored ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  button.addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem('kubeqa-theme', next);
    apply(next);
  });
}

/** One websocket for job events; reconnects, and pages re-read on reconnect (events may be missed). */
function connectEvents(delay = 500): void {
  const ws = new WebSocket(
    `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/events`,
  );
  ws.addEventListener('open', () => {
    document.documentElement.dataset.events = 'connected';
    if (delay > 500) current?.event?.({ type: 'reconnected' });
    delay = 500;
  });
  ws.addEventListener('message', (m) => {
    try {
      current?.event?.(JSON.parse(String(m.data)));
    } catch {
      // not JSON: ignore
    }
  });
  ws.addEventListener('close', () => {
    document.documentElement.dataset.events = 'closed';
    setTimeout(() => connectEvents(Math.min(delay * 2, 10_000)), delay);
  });
}

document.addEventListener('click', (event) => {
  const a = (event.target as Element).closest('a[data-link]');
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || (event as MouseEvent).button !== 0) return;
  event.preventDefault();
  navigate(a.getAttribute('href') ?? '/');
});
window.addEventListener('popstate', () => void render());
window.addEventListener('kubeqa-session', showSession);

setupTheme();
await loadSession();
showSession();
connectEvents();
await render();
document.documentElement.dataset.ready = 'true';
