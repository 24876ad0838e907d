/**
 * The timeline of the open thread, windowed: at most MAX_ROWS messages are in the DOM
 * whatever the thread's length. The window follows the newest messages while the reader is
 * at the bottom; scrolling near the top pages older ones in (and the newest out), keeping
 * what is on screen in place. Past the oldest message the view holds, scrolling up asks the
 * SDK for older ones (`view.loadOlder`: IndexedDB, then the relay), so neither the DOM nor
 * memory grows with the thread. Rows are keyed by message id and replaced only when what
 * they show changes, so focus (e.g. on Retry) survives updates.
 */
import type { ViewMessage } from '../index.ts';
import type { App, ThreadUi } from './app-state.ts';
import { dayKey, formatDateTime, formatDay, formatTime, h, shortDid, srOnly } from './dom.ts';
import { presentStatus, reasonText } from './status-view.ts';
import { StreamsView } from './streams-view.ts';
import { continueInNewThread, reopenAndResend } from './thread-actions.ts';
import { timelineOf } from './thread-ui.ts';
import { type RowMode, messageActions, messageBody } from './message-actions.ts';
import { isSystemEvent, systemEventRow, withEvents } from './system-events.ts';

/** Rows kept in the DOM at most. */
export const MAX_ROWS = 120;
/**
 * Rows of the first render of a thread: a screenful. Laying out the whole initial window
 * (60 rows: text shaping, mostly) before the first frame made the app's warm open 3–7×
 * slower than the rows it shows need (tests/bench/windowed-browser.bench.ts); the rest of the
 * window is added above them in the next frame, out of sight.
 */
const FIRST_ROWS = 20;
/** Rows added or dropped per page when scrolling. */
const PAGE = 40;
/** Pixels from an edge that count as "at" it. */
const EDGE_PX = 120;
/** Wait before asking again for older messages when a page brought none. */
const RETRY_OLDER_MS = 1000;
/** A message delivered this much later than written shows both times. */
const LATE_MS = 60_000;

export class TimelineView {
  readonly el = h('ol', { class: 'timeline', id: 'timeline', 'aria-label': 'Messages' });
  private readonly rows = new Map<string, HTMLLIElement>();
  /** Index one past the newest message in the window, or null: follow the newest. */
  private end: number | null = null;
  /** Id of the newest message in the window when not following: older pages shift indexes. */
  private endId: string | null = null;
  private size = Math.min(MAX_ROWS, 60);
  private total = 0;
  private paging = false;
  private loadingOlder = false;
  /** Replies being streamed: shown after the newest message, where they will land. */
  private readonly streams = new StreamsView();
  /** Scroll height after the last render: a growing stream moves the bottom without new rows. */
  private lastHeight = 0;
  /** The row being edited, or asking to confirm a delete (message-actions.ts). */
  private readonly mode: RowMode = {};

  constructor(
    private readonly app: App,
    private readonly ui: ThreadUi,
  ) {
    this.el.addEventListener('scroll', () => this.onScroll(), { passive: true });
  }

  /** Messages currently in the window (for tests and the bench). */
  get windowSize(): number {
    return this.el.querySelectorAll('li.msg').length;
  }

  private onScroll(): void {
    if (this.paging) return;
    const el = this.el;
    const end = this.end ?? this.total;
    const start = Math.max(0, end - this.size);
    if (el.scrollTop < EDGE_PX && start > 0) {
      // Older: grow the window upwards, then give up the newest rows beyond the cap.
      this.size = Math.min(MAX_ROWS, this.size + PAGE);
      const newStart = Math.max(0, start - PAGE);
      this.setEnd(Math.min(this.total, newStart + this.size));
      this.repaint();
    } else if (el.scrollTop < EDGE_PX && this.total > 0 && this.ui.view.hasOlder) {
      // Not when empty: an empty timeline is "at the top" without a reader having scrolled
      // there (its rows were just replaced), and render's `latest` already asks for rows.
      this.loadOlder();
    } else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX && this.end !== null) {
      this.setEnd(this.end + PAGE);
      this.repaint();
    }
  }

  private setEnd(end: number): void {
    this.end = end >= this.total ? null : end;
    this.endId = null;
  }

  /** At the oldest message held: pages older ones in from the SDK, then shows them above. */
  private loadOlder(): void {
    if (this.loadingOlder) return;
    this.loadingOlder = true;
    const view = this.ui.view;
    void view.loadOlder(PAGE).then(
      (n) => {
        this.loadingOlder = false;
        if (this.ui.view !== view) return;
        // Nothing came though older messages exist (the relay did not answer): try again
        // shortly if the reader is still at the top, rather than wait for another scroll.
        if (n === 0) {
          if (view.hasOlder) this.retryOlderSoon(view);
          return;
        }
        // The reader left the top meanwhile and follows the newest: nothing to move.
        if (this.end === null && this.el.scrollTop >= EDGE_PX) return this.repaint();
        // The window started at the oldest held row: it now starts at the new page, grown
        // by it up to MAX_ROWS (giving up the newest rows beyond, as when paging loaded rows).
        this.size = Math.min(MAX_ROWS, this.size + n);
        this.total = timelineOf(this.ui, this.app.user).length;
        this.setEnd(this.size);
        this.repaint();
      },
      () => {
        this.loadingOlder = false;
        this.retryOlderSoon(view);
      },
    );
  }

  /** Looks at the scroll position again in a moment, while this timeline still shows `view`. */
  private retryOlderSoon(view: ThreadUi['view']): void {
    setTimeout(() => {
      if (this.ui.view === view && this.el.isConnected) this.onScroll();
    }, RETRY_OLDER_MS);
  }

  /** Re-renders keeping the first visible row where it is on screen. */
  private repaint(): void {
    this.paging = true;
    const el = this.el;
    const top = el.getBoundingClientRect().top;
    const anchor = Array.from(el.querySelectorAll<HTMLElement>('li.msg')).find((li) => li.getBoundingClientRect().bottom > top);
    const before = anchor?.getBoundingClientRect().top;
    this.render(this.app.caps?.atproto.features.write_bridge === true);
    if (anchor?.isConnected && before !== undefined) el.scrollTop += anchor.getBoundingClientRect().top - before;
    // The scroll this repaint caused is ignored, but a reader's scroll in the same frame
    // is not lost: once the frame has run, look at where the timeline is now.
    requestAnimationFrame(() => {
      this.paging = false;
      this.onScroll();
    });
  }

  render(bridgeOn: boolean): void {
    const { app, ui } = this;
    const view = ui.view;
    // Where the reader is, before this render changes any row (a stream grows in place).
    const tl = this.el;
    const nearBottom = tl.scrollHeight - tl.scrollTop - tl.clientHeight < 80;
    // Asks the SDK to page sealed history in when it holds fewer than the window shows.
    if (this.end === null) view.latest(this.size);
    const all = timelineOf(ui, app.user);
    this.total = all.length;
    if (this.end !== null && this.endId !== null) {
      const i = all.findIndex((m) => m.id === this.endId);
      if (i >= 0) this.end = i + 1;
    }
    const end = this.end === null ? all.length : Math.min(this.end, all.length);
    // The first fill of a thread shows a screenful of the newest rows; the next frame adds the
    // rest of the window. No paging meanwhile: the short first fill puts the reader near the top.
    const firstFill = this.rows.size === 0 && this.end === null && all.length > FIRST_ROWS && !this.paging;
    const start = Math.max(0, end - (firstFill ? FIRST_ROWS : this.size));
    const msgs = all.slice(start, end);
    if (firstFill) {
      this.paging = true;
      requestAnimationFrame(() => {
        this.render(this.app.caps?.atproto.features.write_bridge === true);
        this.paging = false;
      });
    }
    this.endId = this.end === null ? null : (msgs.at(-1)?.id ?? null);
    const online = view.syncInfo.connection === 'online';
    // "Seen by": each other member under the newest message by someone else they have read.
    const seenAt = new Map<number, string[]>();
    for (const p of view.meta?.participants ?? []) {
      if (p === app.user) continue;
      const upTo = view.readUpTo(p);
      if (upTo === 0) continue;
      for (let i = all.length - 1; i >= 0; i--) {
        const m = all[i]!;
        if (m.seq === undefined || m.seq > upTo || m.authorId === p || m.status === 'rejected') continue;
        seenAt.set(m.seq, [...(seenAt.get(m.seq) ?? []), p]);
        break;
      }
    }
    const present = new Set<string>();
    const ordered: HTMLLIElement[] = [];
    let day = '';
    // Membership changes in order among the messages (system-events.ts).
    const items = withEvents(msgs, view.systemEvents, start > 0 ? (all[start - 1]!.seq ?? Infinity) : -Infinity, end >= all.length);
    for (const m of items) {
      const at = isSystemEvent(m) ? m.at : shownTime(m);
      const d = dayKey(at);
      if (d !== day) {
        day = d;
        const key = `day:${d}`;
        let sep = this.rows.get(key);
        const label = formatDay(at);
        if (!sep || sep.textContent !== label) {
          const fresh = h('li', { class: 'day-sep' }, label);
          sep?.replaceWith(fresh);
          sep = fresh;
          this.rows.set(key, sep);
        }
        present.add(key);
        ordered.push(sep);
      }
      if (isSystemEvent(m)) {
        const key = `event:${m.id}`;
        let li = this.rows.get(key);
        if (!li) this.rows.set(key, (li = systemEventRow(m)));
        present.add(key);
        ordered.push(li);
        continue;
      }
      const seen = m.seq !== undefined ? (seenAt.get(m.seq) ?? []) : [];
      const sig = JSON.stringify([m.status, m.atUri, m.error, m.status === 'pending' && online, seen, bridgeOn && !!app.caps?.atproto.service, m.sentAt, m.text, m.editedAt, m.redacted, m.reactions, m.seq, this.mode.editing === m.id, this.mode.confirmDelete === m.id]);
      let li = this.rows.get(m.id);
      if (!li || li.dataset.sig !== sig) {
        const fresh = this.messageRow(m, seen, online);
        fresh.dataset.sig = sig;
        if (li) {
          const active = document.activeElement as HTMLElement | null;
          const action = active?.closest('li') === li ? active.dataset.action : undefined;
          li.replaceWith(fresh);
          if (action !== undefined) ((fresh.querySelector(`[data-action="${action}"]`) as HTMLElement | null) ?? fresh).focus();
        }
        li = fresh;
        this.rows.set(m.id, li);
      }
      present.add(m.id);
      ordered.push(li);
    }
    // Streams grow below the newest message (only while the window shows the newest).
    const streamRows = this.streams.render(view.streams);
    if (this.end === null || end >= all.length) ordered.push(...streamRows);
    for (const [id, li] of this.rows) {
      if (!present.has(id)) {
        li.remove();
        this.rows.delete(id);
      }
    }
    let changed = false;
    ordered.forEach((li, i) => {
      if (tl.children[i] !== li) {
        tl.insertBefore(li, tl.children[i] ?? null);
        changed = true;
      }
    });
    while (tl.children.length > ordered.length) tl.lastElementChild!.remove();
    if (ordered.length === 0) tl.replaceChildren(h('li', { class: 'empty' }, 'No messages yet. Say hello.'));
    // A reader at the bottom stays there as rows come and a streamed reply grows.
    const grew = tl.scrollHeight !== this.lastHeight;
    if ((changed || grew) && nearBottom && this.end === null) tl.scrollTop = tl.scrollHeight;
    this.lastHeight = tl.scrollHeight;
  }

  private atLink(uri: string): string | null {
    const service = this.app.caps?.atproto.service;
    const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
    if (!service || !m) return null;
    const q = new URLSearchParams({ repo: m[1]!, collection: m[2]!, rkey: m[3]! });
    return `${service.replace(/\/+$/, '')}/xrpc/com.atproto.repo.getRecord?${q}`;
  }

  private messageRow(m: ViewMessage, seen: string[], online: boolean): HTMLLIElement {
    const { app, ui } = this;
    const view = ui.view;
    const p = presentStatus(m, online, app.guest);
    const status = h(
      'span',
      // Focusable from script only: focus moves here after Retry (the button goes away).
      { class: `status status-${p.kind}`, title: p.label, tabindex: '-1', 'data-action': 'status' },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, p.icon),
      ' ',
      p.text,
      srOnly(`: ${p.detail}`),
    );
    const details: Array<HTMLElement | null> = [];
    if (m.status === 'confirmed' && m.atUri) {
      // Compact: the full at:// URI is in the link's title and the accessible name.
      const href = this.atLink(m.atUri);
      details.push(
        h(
          'span',
          { class: 'at-uri', 'data-uri': m.atUri },
          href
            ? h('a', { href, target: '_blank', rel: 'noopener', title: m.atUri, 'aria-label': `on AT: ${m.atUri}` }, 'on AT')
            : h('span', { title: m.atUri }, 'on AT'),
        ),
      );
    }
    if (m.status === 'failed') {
      details.push(h('span', { class: 'reason' }, `Reason: ${reasonText(m.error)}.`));
      details.push(
        h(
          'button',
          {
            type: 'button',
            class: 'retry',
            'data-action': 'retry',
            onclick: (e) => {
              const btn = e.currentTarget as HTMLButtonElement;
              // Keep focus on the row while the retry runs: the button goes away with the
              // status change, and focus then lands on the new status (see render()).
              (btn.closest('li')?.querySelector<HTMLElement>('.status') ?? btn.closest('li'))?.focus();
              btn.disabled = true;
              view.retry(m.id).then(
                () => app.announcer.say('Retrying the AT mirror.'),
                (err: Error) => {
                  btn.disabled = false;
                  btn.focus();
                  app.announcer.say(`Retry failed: ${err.message}`);
                },
              );
            },
          },
          'Retry',
          srOnly(' mirroring this message to AT'),
        ),
      );
    }
    if (m.status === 'rejected') {
      details.push(
        h('span', { class: 'reason' }, `Reason: ${reasonText(m.error)}.`),
        m.error === 'THREAD_ARCHIVED'
          ? h('button', { type: 'button', 'data-action': 'reopen-resend', onclick: () => void reopenAndResend(app, ui, m) }, 'Reopen the thread and send it again')
          : null,
        h('button', { type: 'button', 'data-action': 'resend-new', onclick: () => void continueInNewThread(app, view, m.text) }, 'Send it in a new thread'),
      );
    }
    const written = m.clientSentAt;
    const late = m.sentAt !== undefined && m.sentAt - written > LATE_MS;
    const time = h('time', { datetime: new Date(shownTime(m)).toISOString(), title: formatDateTime(shownTime(m)) }, formatTime(shownTime(m)));
    return h(
      'li',
      { class: `msg ${m.mine ? 'mine' : 'theirs'} msg-${p.kind}`, 'data-id': m.id, 'data-status': p.kind, tabindex: '-1' },
      h(
        'div',
        { class: 'msg-meta' },
        m.origin
          ? h('span', { class: 'author remote', title: m.origin.did }, m.origin.name, h('span', { class: 'origin' }, ` via ${shortDid(m.origin.did)}`))
          : h('span', { class: 'author' }, m.mine ? `${m.authorId} (you)` : m.authorId),
        ' ',
        time,
        late ? h('span', { class: 'delivered' }, ` · delivered ${formatTime(m.sentAt!)}`) : null,
      ),
      ...messageBody(app, view, m, this.mode, () => this.repaint()),
      messageActions(app, view, m, this.mode, () => this.repaint()),
      // The delivery status is the author's business: on others' messages it is noise (their
      // message is here, so it was sent). A failed mirror still says so, with its Retry.
      m.mine || details.length ? h('div', { class: 'msg-status' }, m.mine ? status : null, ...details) : null,
      seen.length ? h('p', { class: 'seen' }, `Seen by ${seen.join(', ')}`) : null,
    );
  }
}

/**
 * The time a message shows: when it was written for messages written while offline (kept
 * after they are delivered, with the delivery time next to it, so nothing jumps), else the
 * relay's time.
 */
function shownTime(m: ViewMessage): number {
  if (m.sentAt === undefined) return m.clientSentAt;
  return m.sentAt - m.clientSentAt > LATE_MS ? m.clientSentAt : m.sentAt;
}
