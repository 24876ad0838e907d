/**
 * A message row's edit, delete and reaction controls (docs/design/message-lifecycle.md):
 * keyboard reachable buttons, an inline editor (Enter saves, Escape cancels), a two-step
 * delete, reactions with counts and who reacted, and every outcome announced through the
 * app's live region.
 */
import type { ThreadView, ViewMessage } from '../index.ts';
import { canRedact } from '../../shared/roles.ts';
import type { App } from './app-state.ts';
import { h, srOnly } from './dom.ts';

/** The emoji offered by the picker (any emoji works through the SDK). */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

/** What a row is doing beyond being shown: editing (with its draft), or asking to confirm a delete. */
export interface RowMode {
  editing?: string;
  draft?: string;
  confirmDelete?: string;
}

/**
 * Whether the signed-in user may delete `m`: their own, or as a thread moderator — but not a
 * message from another relay, whose record this relay cannot delete (shared/roles.ts `canRedact`).
 */
export function mayDelete(view: ThreadView, user: string, m: ViewMessage): boolean {
  if (m.mine) return true;
  const meta = view.roots.meta;
  return canRedact(
    {
      participants: (meta.get('participants') as string[] | undefined) ?? [],
      ...(typeof meta.get('owner') === 'string' ? { owner: meta.get('owner') as string } : {}),
      ...(Array.isArray(meta.get('moderators')) ? { moderators: meta.get('moderators') as string[] } : {}),
    },
    user,
    m.authorId,
  );
}

/** The text part of a row: the text (or the editor, or "Message deleted"), "edited" with earlier versions. */
export function messageBody(app: App, view: ThreadView, m: ViewMessage, mode: RowMode, rerender: () => void): HTMLElement[] {
  if (m.redacted) return [h('p', { class: 'text deleted' }, h('span', { 'aria-hidden': 'true' }, '🗑 '), 'Message deleted')];
  if (mode.editing === m.id) {
    const area = h('textarea', { class: 'edit-text', 'data-action': 'edit-text', rows: 2, 'aria-label': 'Edit your message' }) as HTMLTextAreaElement;
    area.value = mode.draft ?? m.text;
    const save = () => {
      const text = area.value;
      mode.editing = undefined;
      mode.draft = undefined;
      rerender();
      if (text === m.text) return;
      view.edit(m.id, text).then(
        () => app.announcer.say('Message edited.'),
        (err: Error) => app.announcer.say(`Edit failed: ${err.message}`),
      );
    };
    const cancel = () => {
      mode.editing = undefined;
      mode.draft = undefined;
      rerender();
      app.announcer.say('Edit cancelled.');
    };
    area.addEventListener('input', () => (mode.draft = area.value));
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        save();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        cancel();
      }
    });
    return [
      h(
        'div',
        { class: 'editor' },
        area,
        h('div', { class: 'editor-actions' }, h('button', { type: 'button', 'data-action': 'save-edit', onclick: save }, 'Save'), h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel-edit', onclick: cancel }, 'Cancel')),
      ),
    ];
  }
  const out: HTMLElement[] = [h('p', { class: 'text' }, m.text)];
  if (m.editedAt !== undefined) {
    const versions = view.versions(m.id);
    out.push(
      h(
        'details',
        { class: 'edited' },
        h('summary', { 'data-action': 'versions' }, 'edited', srOnly(`: ${versions.length - 1} earlier version${versions.length === 2 ? '' : 's'}`)),
        h('ol', { class: 'versions', 'aria-label': 'Earlier versions' }, ...versions.slice(0, -1).map((v) => h('li', {}, v.text))),
      ),
    );
  }
  return out;
}

/** Reactions (count, who, toggle) and the row's actions (react, edit, delete). */
export function messageActions(app: App, view: ThreadView, m: ViewMessage, mode: RowMode, rerender: () => void): HTMLElement | null {
  if (m.redacted || m.seq === undefined) return null;
  const toggle = (emoji: string, on: boolean) =>
    (on ? view.react(m.id, emoji) : view.unreact(m.id, emoji)).then(
      () => app.announcer.say(on ? `Reacted ${emoji}.` : `Removed your ${emoji} reaction.`),
      (err: Error) => app.announcer.say(`Reaction failed: ${err.message}`),
    );
  const reactions = (m.reactions ?? []).map((r) =>
    h(
      'button',
      {
        type: 'button',
        class: `reaction${r.mine ? ' mine' : ''}`,
        'aria-pressed': r.mine ? 'true' : 'false',
        'data-action': `reaction-${r.emoji}`,
        'data-emoji': r.emoji,
        title: r.users.join(', '),
        'aria-label': `${r.emoji} ${r.count}: ${r.users.join(', ')}${r.mine ? '. Remove your reaction' : '. Add yours'}`,
        onclick: () => void toggle(r.emoji, !r.mine),
      },
      `${r.emoji} ${r.count}`,
    ),
  );
  // The emoji buttons are built when the picker opens: every row has a picker, and a
  // thread's DOM stays small only if closed pickers hold no more than their summary.
  const picker = h(
    'details',
    { class: 'react-picker' },
    h('summary', { 'data-action': 'react' }, h('span', { 'aria-hidden': 'true' }, '☺︎+'), srOnly('Add a reaction')),
  );
  const pickerOptions = () =>
    h(
      'div',
      { class: 'picker', role: 'group', 'aria-label': 'Reactions' },
      ...QUICK_REACTIONS.map((e) =>
        h('button', {
          type: 'button',
          'data-action': `pick-${e}`,
          'aria-label': `React ${e}`,
          onclick: (ev) => {
            (ev.currentTarget as HTMLElement).closest('details')?.removeAttribute('open');
            const mine = m.reactions?.some((r) => r.emoji === e && r.mine) ?? false;
            void toggle(e, !mine);
          },
        }, e),
      ),
    );
  picker.addEventListener('toggle', () => {
    if ((picker as HTMLDetailsElement).open && !picker.querySelector('.picker')) picker.append(pickerOptions());
  });
  const actions: HTMLElement[] = [picker];
  if (m.mine && mode.editing !== m.id) {
    actions.push(
      h('button', {
        type: 'button',
        class: 'secondary',
        'data-action': 'edit',
        onclick: () => {
          mode.editing = m.id;
          mode.draft = m.text;
          mode.confirmDelete = undefined;
          rerender();
          document.querySelector<HTMLTextAreaElement>(`li[data-id="${CSS.escape(m.id)}"] textarea.edit-text`)?.focus();
        },
      }, 'Edit', srOnly(' this message')),
    );
  }
  if (mayDelete(view, app.user, m)) {
    if (mode.confirmDelete === m.id) {
      actions.push(
        h('span', { class: 'confirm', role: 'group', 'aria-label': 'Delete this message?' },
          h('button', {
            type: 'button',
            class: 'danger',
            'data-action': 'confirm-delete',
            onclick: () => {
              mode.confirmDelete = undefined;
              view.delete(m.id).then(
                () => app.announcer.say('Message deleted.'),
                (err: Error) => app.announcer.say(`Delete failed: ${err.message}`),
              );
            },
          }, 'Delete for everyone'),
          h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel-delete', onclick: () => { mode.confirmDelete = undefined; rerender(); } }, 'Keep'),
        ),
      );
    } else {
      actions.push(
        h('button', {
          type: 'button',
          class: 'secondary',
          'data-action': 'delete',
          onclick: () => {
            mode.confirmDelete = m.id;
            rerender();
            document.querySelector<HTMLElement>(`li[data-id="${CSS.escape(m.id)}"] [data-action="confirm-delete"]`)?.focus();
          },
        }, 'Delete', srOnly(' this message')),
      );
    }
  }
  return h('div', { class: 'msg-lifecycle' }, reactions.length ? h('div', { class: 'reactions', 'aria-label': 'Reactions' }, ...reactions) : null, h('div', { class: 'msg-actions' }, ...actions));
}
