/**
 * Replies being streamed in the open thread (an AI answer, the demo bot): rows the timeline
 * shows after its newest message — where the reply lands — while they grow; then they leave
 * and arrive in the timeline as messages at that place. An interrupted one stays, marked,
 * with its text so far.
 */
import type { ViewStream } from '../index.ts';
import { h } from './dom.ts';

export class StreamsView {
  private readonly rows = new Map<string, { li: HTMLLIElement; text: HTMLElement; sig: string }>();

  /** Updates the rows (text in place) and returns them in order, for the timeline to place. */
  render(streams: ViewStream[]): HTMLLIElement[] {
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
        const li = h('li', { class: `bubble stream ${s.mine ? 'mine' : 'theirs'}`, 'data-stream-id': s.id });
        row = { li, text, sig: '' };
        this.rows.set(s.id, row);
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
    return streams.map((s) => this.rows.get(s.id)!.li);
  }
}

function interruptedWhy(reason: string | undefined): string {
  if (reason === 'idle') return ': its author stopped writing';
  if (reason?.startsWith('aborted')) return ': stopped by its author';
  return '';
}
