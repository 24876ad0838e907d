/** The list of threads: title, archived tag, unread count and the latest message. */
import type { ThreadSummary } from '../index.ts';
import type { App } from './app-state.ts';
import { authorLabel, h, srOnly } from './dom.ts';

export class ThreadListView {
  readonly el = h('ul', { class: 'thread-list', id: 'thread-list' });

  render(app: App): void {
    const items: Array<{ t: ThreadSummary; unread: number; last: string }> = app.client.threads().map((t) => {
      const v = app.threads.get(t.id)?.view;
      let last = t.lastMessage ? `${t.lastMessage.authorId === app.user ? 'You' : authorLabel(t.lastMessage.authorId)}: ${t.lastMessage.text}` : 'No messages yet';
      let unread = 0;
      if (v && !v.isPartial) {
        const msgs = v.messages;
        const lm = msgs[msgs.length - 1];
        if (lm) last = `${lm.mine ? 'You' : authorLabel(lm.authorId)}: ${lm.text}`;
        unread = t.id === app.currentId ? 0 : v.unreadCount;
      }
      return { t, unread, last };
    });
    const sig = JSON.stringify([app.currentId, items.map((i) => [i.t.id, i.t.title, i.t.archived, i.unread, i.last])]);
    if (this.el.dataset.sig === sig) return;
    this.el.dataset.sig = sig;
    const focusedId = (document.activeElement as HTMLElement | null)?.closest?.('#thread-list a')?.getAttribute('data-id');
    if (items.length === 0) {
      this.el.replaceChildren(h('li', { class: 'empty' }, 'No threads yet. Start one with “New thread”.'));
      return;
    }
    this.el.replaceChildren(
      ...items.map(({ t, unread, last }) =>
        h(
          'li',
          {},
          h(
            'a',
            { href: `#/t/${encodeURIComponent(t.id)}`, 'data-id': t.id, 'aria-current': t.id === app.currentId ? 'page' : undefined },
            h('span', { class: 'thread-title' }, t.title || 'Untitled thread', t.archived ? h('span', { class: 'tag' }, ' (archived)') : null),
            unread > 0 ? h('span', { class: 'badge', 'data-unread': unread }, String(unread), srOnly(' unread')) : null,
            h('span', { class: 'thread-last' }, last.length > 80 ? last.slice(0, 79) + '…' : last),
          ),
        ),
      ),
    );
    if (focusedId) (this.el.querySelector(`a[data-id="${CSS.escape(focusedId)}"]`) as HTMLElement | null)?.focus();
  }

  /** Focuses the current thread's link, or the first one. */
  focus(): void {
    ((this.el.querySelector('a[aria-current="page"]') ?? this.el.querySelector('a')) as HTMLElement | null)?.focus();
  }
}
