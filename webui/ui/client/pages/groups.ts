// Job groups, and one group's JobTemplates YAML: validate and preview (expanded) before saving.
import { ApiError, get, getText, mayAct, send } from '../api.js';
import { add, h, put } from '../dom.js';
import type { Page, PageContext } from '../page.js';

interface Group {
  id: number;
  name: string;
  description?: string | null;
  default_priority?: number;
}

export function groupsPage(ctx: PageContext): Page {
  return {
    title: 'Job groups',
    async show() {
      const groups = await get<Group[]>('job_groups');
      const create = mayAct('admin')
        ? h(
            'form',
            {
              class: 'toolbar',
              onsubmit: async (e: Event) => {
                e.preventDefault();
                const name = String(new FormData(e.target as HTMLFormElement).get('name') ?? '');
                const r = await send<{ id: number }>('POST', 'job_groups', { name });
                ctx.navigate(`/admin/groups/${r.id}`);
              },
            },
            h('label', {}, 'New group name', h('input', { name: 'name', required: true })),
            h('button', { type: 'submit', class: 'primary' }, 'Create group'),
          )
        : null;
      add(
        ctx.root,
        h('h1', {}, 'Job groups'),
        groups.length === 0
          ? h('p', { class: 'notice' }, 'No job group yet.')
          : h(
              'ul',
              {},
              groups.map((g) =>
                h(
                  'li',
                  {},
                  h('a', { href: `/admin/groups/${g.id}`, 'data-link': true }, g.name),
                  g.description ? ` — ${g.description}` : '',
                ),
              ),
            ),
        create,
      );
    },
  };
}

export function groupPage(ctx: PageContext): Page {
  const id = Number(ctx.params[0]);
  return {
    title: `Job group ${id}`,
    async show() {
      const [group] = await get<Group[]>(`job_groups/${id}`);
      let reference = await getText(`/api/v1/job_templates_scheduling/${id}`);
      const output = h('div', { 'aria-live': 'polite' });
      const editor = h('textarea', { id: 'yaml', class: 'yaml', name: 'template', spellcheck: 'false' });
      editor.value = reference;
      const admin = mayAct('admin');
      const submit = async (mode: 'validate' | 'preview' | 'save') => {
        const body: Record<string, unknown> = {
          template: editor.value,
          schema: 'JobTemplates-01.yaml',
          reference,
        };
        if (mode !== 'save') body.preview = 1;
        if (mode === 'preview') body.expand = 1;
        try {
          const r = await send<{ count: number; result?: string }>(
            'POST',
            `job_templates_scheduling/${id}`,
            body,
          );
          if (mode === 'save') reference = editor.value;
          put(
            output,
            h(
              'p',
              { class: 'notice', role: 'status' },
              mode === 'save' ? `Saved: ${r.count} job templates.` : `Valid: ${r.count} job templates.`,
            ),
            r.result ? h('pre', { 'aria-label': 'Expanded job templates' }, r.result) : null,
          );
        } catch (error) {
          const errors =
            error instanceof ApiError
              ? ((error.body as { errors?: string[] })?.errors ?? [error.message])
              : [(error as Error).message];
          output.replaceChildren(
            h(
              'div',
              { class: 'error', role: 'alert' },
              h('p', {}, mode === 'save' ? 'Not saved:' : 'Invalid:'),
              h(
                'ul',
                {},
                errors.map((e) => h('li', {}, e)),
              ),
            ),
          );
        }
      };
      add(
        ctx.root,
        h('h1', {}, `Job group ${group?.name ?? id}`),
        group?.description ? h('p', {}, group.description) : null,
        h('label', { for: 'yaml' }, 'Job templates (JobTemplates-01 YAML)'),
        editor,
        admin
          ? h(
              'div',
              { class: 'toolbar' },
              h('button', { type: 'button', onclick: () => void submit('validate') }, 'Validate'),
              h('button', { type: 'button', onclick: () => void submit('preview') }, 'Preview'),
              h('button', { type: 'button', class: 'primary', onclick: () => void submit('save') }, 'Save'),
            )
          : h('p', { class: 'muted' }, 'Log in as an administrator to change the templates.'),
        output,
      );
    },
  };
}
