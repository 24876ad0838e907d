/**
 * The open thread's members panel (issue 30): who is in it and their role, and — for the
 * owner and moderators — adding and removing members and (owner only) naming moderators.
 * The rules are shared/roles.ts, the same the relay applies; its 403s still show as errors.
 * Membership changes (system events) are rows of the timeline (system-events.ts).
 */
import type { ThreadView } from '../index.ts';
import { canModerate, roleOf } from '../index.ts';
import type { App } from './app-state.ts';
import { h, srOnly } from './dom.ts';

/** The panel: a disclosure whose content is rebuilt when the members or roles change. */
export class MembersPanel {
  readonly el = h('details', { class: 'members-panel', id: 'members-panel' });
  private readonly summary = h('summary', { id: 'members-summary' });
  private readonly body = h('div', { class: 'members-body' });
  private readonly error = h('p', { class: 'error', role: 'alert', id: 'members-error' });
  private sig = '';

  constructor(
    private readonly app: App,
    private readonly view: ThreadView,
  ) {
    this.el.append(this.summary, this.body);
  }

  render(): void {
    const { app, view } = this;
    const meta = view.meta;
    if (!meta) return;
    const sig = JSON.stringify([meta.participants, meta.owner, meta.moderators, meta.archived]);
    if (sig === this.sig) return;
    this.sig = sig;
    const roles = { participants: meta.participants, owner: meta.owner, moderators: meta.moderators };
    const me = roleOf(roles, app.user);
    const mayModerate = canModerate(roles, app.user) && !meta.archived;
    const summaryText = mayModerate ? `Manage members (${meta.participants.length})` : `Members and roles (${meta.participants.length})`;
    this.summary.textContent = summaryText;

    const rows = meta.participants.map((p) => {
      const role = roleOf(roles, p);
      const label = role === 'owner' ? 'owner' : role === 'moderator' ? 'moderator' : 'member';
      const mayRemove = p !== app.user && role !== 'owner' && (me === 'owner' || (me === 'moderator' && role === 'member')) && !meta.archived;
      const mayToggle = me === 'owner' && p !== app.user && !meta.archived;
      return h(
        'li',
        { 'data-user': p },
        h('span', { class: 'member-name' }, p === app.user ? `${p} (you)` : p),
        ' ',
        h('span', { class: `role role-${label}` }, label),
        mayToggle
          ? h(
              'button',
              { type: 'button', class: 'toggle-moderator', onclick: () => void this.toggleModerator(p, role !== 'moderator', meta.moderators) },
              role === 'moderator' ? 'Remove moderator role' : 'Make moderator',
              srOnly(` for ${p}`),
            )
          : null,
        mayRemove ? h('button', { type: 'button', class: 'remove-member', onclick: () => void this.remove(p) }, 'Remove', srOnly(` ${p} from this thread`)) : null,
      );
    });
    const input = h('input', { id: 'add-member', autocomplete: 'off', spellcheck: false, placeholder: 'user name' });
    const form = mayModerate
      ? h(
          'form',
          {
            class: 'add-member-form',
            onsubmit: (e) => {
              e.preventDefault();
              const userId = input.value.trim();
              if (!userId) return;
              void this.add(userId).then((ok) => {
                if (ok) input.value = '';
              });
            },
          },
          h('label', { for: 'add-member' }, 'Add a member'),
          ' ',
          input,
          ' ',
          h('button', { type: 'submit', id: 'add-member-submit' }, 'Add'),
        )
      : null;
    const focused = document.activeElement?.id;
    this.body.replaceChildren(...[h('ul', { class: 'member-list', id: 'member-list', 'aria-label': 'Members' }, ...rows), form, this.error].filter((x) => x !== null) as HTMLElement[]);
    // Keep the keyboard where it was across a rebuild (e.g. typing the next name).
    if (focused === 'add-member') (this.body.querySelector('#add-member') as HTMLInputElement | null)?.focus();
  }

  private async add(userId: string): Promise<boolean> {
    this.error.textContent = '';
    try {
      await this.app.client.addMember(this.view.threadId, userId);
      this.app.announcer.say(`${userId} added to the thread.`);
      return true;
    } catch (err) {
      this.error.textContent = `Could not add ${userId}: ${(err as Error).message}`;
      return false;
    }
  }

  private async remove(userId: string): Promise<void> {
    this.error.textContent = '';
    try {
      await this.app.client.removeMember(this.view.threadId, userId);
      this.app.announcer.say(`${userId} removed from the thread.`);
      (this.body.querySelector('#add-member') as HTMLInputElement | null)?.focus();
    } catch (err) {
      this.error.textContent = `Could not remove ${userId}: ${(err as Error).message}`;
    }
  }

  private async toggleModerator(userId: string, make: boolean, current: string[]): Promise<void> {
    this.error.textContent = '';
    const next = make ? [...current, userId] : current.filter((u) => u !== userId);
    try {
      await this.app.client.setModerators(this.view.threadId, next);
      this.app.announcer.say(make ? `${userId} is now a moderator.` : `${userId} is no longer a moderator.`);
    } catch (err) {
      this.error.textContent = `Could not change roles: ${(err as Error).message}`;
    }
  }
}
