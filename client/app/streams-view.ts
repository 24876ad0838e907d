/**
 * Replies being streamed in the open thread (an AI answer, the demo bot): shown below the
 * timeline while they grow, then they leave this list and arrive in the timeline as
 * messages. An interrupted one stays, marked, with its text so far.
 */
import type { ViewStream } from '../index.ts';
import { h } from './dom.ts';

export class StreamsView {
  readonly el = h('ol', { class: 'streams', id: 'streams', 'aria-label': 'Replies being written', hidden: true });
  private readonly rows = new Map<string, { li: HTMLLIElement; text: HTMLElement; sig: string }>();

  render(streams: ViewStream[]): void {
    const ids = new Set(streams.map((s) => s.id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    for (const s of streams) {
      let row = this.rows.get(s.id);
      if (!row) {
        const text = h('p', { class: 'text' });
        const li = h('li', { class: `msg stream ${s.mine ? 'mine' : 'theirs'}`, 'data-stream-id': s.id });
        row = { li, text, sig: '' };
        this.rows.set(s.id, row);
        this.el.append(li);
      }
      // Only the text grows while streaming: update it in place, rebuild the rest on change.
      if (row.text.textContent !== s.text) row.text.textContent = s.text;
      const sig = `${s.status}|${s.reason ?? ''}`;
      if (row.sig === sig) continue;
      row.sig = sig;
      row.li.dataset.status = s.status;
      const status =
        s.status === 'streaming'
          ? h('span', { class: 'status status-streaming' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '✎'), ' Writing…')
          : h('span', { class: 'status status-interrupted' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '⏸'), ` Interrupted${interruptedWhy(s.reason)}`);
      row.li.replaceChildren(
        h('div', { class: 'msg-meta' }, h('span', { class: 'author' }, s.mine ? `${s.authorId} (you)` : s.authorId)),
        row.text,
        h('div', { class: 'msg-status' }, status),
      );
    }
    this.el.hidden = streams.length === 0;
  }
}

function interruptedWhy(reason: string | undefined): string {
  if (reason === 'idle') return ': its author stopped writing';
  if (reason?.startsWith('aborted')) return ': stopped by its author';
  return '';
}
