/**
 * The open thread: header (title, members and presence, the AT choice, actions), notices
 * (resync running, archived, refused), the timeline, who is typing, and the composer.
 */
import type { App, ThreadUi } from './app-state.ts';
import { type Composer, composerView } from './composer-view.ts';
import { authorLabel, h, srOnly } from './dom.ts';
import { parseRemoteAuthorId } from '../../shared/schema.ts';
import { archive, continueInNewThread, reopen } from './thread-actions.ts';
import { TimelineView } from './timeline-view.ts';
import { MembersPanel } from './members-view.ts';

export class ThreadPane {
  readonly el = h('main', { class: 'thread', id: 'thread-pane', 'aria-labelledby': 'thread-title' });
  private parts: {
    ui: ThreadUi;
    title: HTMLElement;
    members: HTMLElement;
    heading: HTMLElement;
    mirror: HTMLElement;
    atDetails: HTMLDetailsElement;
    atSummary: HTMLElement;
    shared: HTMLElement;
    archive: HTMLButtonElement;
    notices: HTMLElement;
    timeline: TimelineView;
    typing: HTMLElement;
    composer: Composer;
    membersPanel: MembersPanel;
  } | null = null;

  constructor(private readonly app: App) {}

  get timeline(): TimelineView | null {
    return this.parts?.timeline ?? null;
  }

  /** Builds the pane for the current thread (or the empty state). */
  build(): void {
    const { app } = this;
    this.parts = null;
    const ui = app.currentId ? app.threads.get(app.currentId) : undefined;
    if (!ui) {
      this.el.replaceChildren(
        h('h2', { id: 'thread-title' }, 'No thread open'),
        h('p', { class: 'empty' }, 'Choose a thread, or start a new one.'),
      );
      return;
    }
    const view = ui.view;
    const parts = (this.parts = {
      ui,
      title: h('h2', { id: 'thread-title' }),
      members: h('p', { class: 'members' }),
      heading: h('div', { class: 'thread-heading' }),
      mirror: h('p', { class: 'mirror-note' }),
      // A mirrored thread's AT details (what mirroring means, its at:// URI, other relays)
      // are behind a disclosure: the header stays one or two lines for every member.
      atDetails: h('details', { class: 'at-details', id: 'at-details', hidden: true }),
      atSummary: h('summary', { id: 'at-summary' }),
      shared: h('div', { class: 'shared-uri', hidden: true }),
      archive: h('button', { type: 'button', id: 'archive', onclick: () => void archive(app, view) }, 'Archive', srOnly(' thread')),
      notices: h('div', { class: 'notices' }),
      timeline: new TimelineView(app, ui),
      typing: h('p', { class: 'typing', id: 'typing', 'aria-live': 'off' }),
      composer: composerView(app, view),
      membersPanel: new MembersPanel(app, view),
    });
    parts.atDetails.append(parts.atSummary, parts.shared);
    parts.heading.append(parts.title, parts.members, ...(app.guest ? [] : [parts.membersPanel.el, parts.mirror, parts.atDetails]));
    this.el.replaceChildren(
      h(
        'div',
        { class: 'thread-head' },
        h('button', { type: 'button', class: 'back', onclick: () => app.show(null) }, h('span', { 'aria-hidden': 'true' }, '← '), 'Threads'),
        parts.heading,
        // Resync and archive act on the relay's copy: a guest thread has none.
        app.guest
          ? null
          : h(
              'div',
              { class: 'actions' },
              h('button', { type: 'button', id: 'resync', onclick: () => void view.resync().catch(() => {}) }, 'Resync'),
              parts.archive,
            ),
      ),
      parts.notices,
      parts.timeline.el,
      parts.typing,
      parts.composer.el,
    );
  }

  showError(text: string): void {
    if (this.parts) this.parts.composer.error.textContent = text;
  }

  focusComposer(): void {
    this.parts?.composer.input.focus();
  }

  render(): void {
    const { app, parts } = this;
    if (!parts) return;
    const { ui } = parts;
    const { view } = ui;
    const meta = view.meta;
    const archived = meta?.archived === true;
    parts.title.textContent = meta?.title || 'Untitled thread';

    // Members and presence (awareness: never persisted or mirrored). Presence is per thread:
    // someone not here may be online elsewhere, so absence is not called "away".
    const presence = view.presence;
    const here = new Set(presence.map((p) => p.userId));
    // Whoever is streaming a reply here (the demo bot has no awareness of its own) is here.
    for (const s of view.streams) if (s.status === 'streaming') here.add(s.authorId);
    // A thread shared between relays has members this relay does not list: name the remote
    // authors seen here, the way the timeline names them.
    const remoteAuthors = [...new Set(view.messages.map((m) => m.authorId).filter((a) => parseRemoteAuthorId(a)))].sort();
    const memberSig = JSON.stringify([meta?.participants, [...here].sort(), remoteAuthors]);
    if (app.guest) {
      // A guest thread has one member and no relay: say where it lives instead.
      const note = 'Kept in this browser only. Sign in to share it.';
      if (parts.members.textContent !== note) parts.members.textContent = note;
    } else if (parts.members.dataset.sig !== memberSig) {
      parts.members.dataset.sig = memberSig;
      parts.members.replaceChildren(
        'Members: ',
        ...(meta?.participants ?? []).flatMap((p, i) => {
          const inThread = p === app.user || here.has(p);
          return [
            i > 0 ? ', ' : '',
            h(
              'span',
              { class: `member ${inThread ? 'present' : 'absent'}`, 'data-user': p, title: inThread ? 'in this thread now' : 'not in this thread right now' },
              h('span', { 'aria-hidden': 'true' }, inThread ? '● ' : '○ '),
              p === app.user ? `${p} (you)` : p,
              p !== app.user && inThread ? h('span', { class: 'presence-text' }, ' (here)') : null,
            ),
          ];
        }),
        ...remoteAuthors.flatMap((a) => [
          ', ',
          h('span', { class: 'member remote', 'data-user': a, title: `on another relay (${parseRemoteAuthorId(a)!.did})` }, authorLabel(a)),
        ]),
      );
    }
    if (!app.guest) parts.membersPanel.render();
    const typing = archived ? [] : [...new Set(presence.filter((p) => p.typing && p.userId !== app.user).map((p) => p.userId))];
    const typingText = typing.length === 0 ? '' : typing.length === 1 ? `${typing[0]} is typing…` : `${typing.join(', ')} are typing…`;
    if (parts.typing.textContent !== typingText) parts.typing.textContent = typingText;

    const bridgeOn = app.caps?.atproto.features.write_bridge === true;
    const mirrorText = !meta
      ? ''
      : meta.mirror
        ? bridgeOn
          ? 'Mirrored to AT: every message here is also published as a public AT Protocol record that anyone can read.'
          : 'Mirrored to AT, but this relay’s AT bridge is off right now: messages are kept and mirrored when it is back.'
        : 'Not mirrored: only members can read it, on this relay.';
    if (parts.mirror.textContent !== mirrorText) parts.mirror.textContent = mirrorText;
    // Mirrored: one summary line in the header, the explanation inside the disclosure.
    const mirrored = meta?.mirror === true;
    const mirrorHome = mirrored ? parts.atDetails : parts.heading;
    if (!app.guest && parts.mirror.parentElement !== mirrorHome) {
      if (mirrored) parts.atSummary.after(parts.mirror);
      else parts.atDetails.before(parts.mirror);
    }
    parts.atDetails.hidden = !mirrored;
    const summaryText = bridgeOn ? 'Public on AT' : 'Public on AT (bridge off)';
    if (parts.atSummary.dataset.text !== summaryText) {
      parts.atSummary.dataset.text = summaryText;
      parts.atSummary.replaceChildren(summaryText, h('span', { class: 'summary-more' }, ' · details'));
    }
    // The thread's AT identity: another relay joins the conversation with it.
    const uri = meta?.atUri ?? null;
    const remotes = app.client.threads().find((t) => t.id === view.threadId)?.remotes ?? [];
    const sharedSig = `${uri ?? ''}|${remotes.join(',')}`;
    if (parts.shared.dataset.uri !== sharedSig) {
      parts.shared.dataset.uri = sharedSig;
      parts.shared.hidden = !uri;
      parts.shared.replaceChildren(
        ...(uri
          ? [
              'Shared as ',
              h('code', { id: 'thread-at-uri' }, uri),
              ' ',
              h(
                'button',
                {
                  type: 'button',
                  id: 'copy-at-uri',
                  onclick: () =>
                    void navigator.clipboard?.writeText(uri).then(
                      () => app.announcer.say('Thread URI copied.'),
                      () => app.announcer.say('Copying is not allowed here; select the URI instead.'),
                    ),
                },
                'Copy',
                srOnly(' the thread URI'),
              ),
              remoteForm(app, view.threadId, remotes),
            ]
          : []),
      );
    }

    // Notices: resync indicator (only while it runs), archived, refused.
    const notices: HTMLElement[] = [];
    const sync = view.syncInfo;
    if (sync.isResyncing) notices.push(h('p', { class: 'notice', id: 'resync-indicator', role: 'status' }, h('span', { 'aria-hidden': 'true' }, '↻ '), 'Resyncing this thread…'));
    if (archived) {
      notices.push(
        h(
          'div',
          { class: 'notice notice-archived', id: 'archived-notice' },
          h('p', {}, 'This thread is archived: it is read-only and new messages are not accepted.'),
          h('button', { type: 'button', id: 'reopen', onclick: () => void reopen(app, view) }, 'Reopen thread'),
          ' ',
          h('button', { type: 'button', onclick: () => void continueInNewThread(app, view) }, 'Continue in a new thread'),
        ),
      );
    }
    if (view.refused) notices.push(h('p', { class: 'notice notice-error', role: 'alert' }, `The relay refused this thread: ${view.refused.reason || 'code ' + view.refused.code}`));
    const noticeSig = JSON.stringify([sync.isResyncing, archived, view.refused]);
    if (parts.notices.dataset.sig !== noticeSig) {
      parts.notices.dataset.sig = noticeSig;
      parts.notices.replaceChildren(...notices);
    }
    parts.archive.disabled = archived;
    parts.composer.el.hidden = archived;

    parts.timeline.render(bridgeOn);

    // Reading the open thread while the page is visible writes a receipt (never backwards).
    if (document.visibilityState === 'visible' && !view.isPartial) {
      const msgs = view.messages;
      for (let i = msgs.length - 1; i >= 0; i--) {
        const m = msgs[i]!;
        if (m.seq === undefined || m.status === 'rejected') continue;
        if (m.seq > view.readUpTo(app.user)) view.markRead(m.id);
        break;
      }
    }
  }
}

/**
 * Remote members of a shared thread: the other relays' repos (DIDs) whose AT records are
 * ingested into it. Adding one is how the relay that created the thread lets a follower in.
 */
function remoteForm(app: App, threadId: string, remotes: string[]): HTMLElement {
  const input = h('input', { id: 'remote-did', autocomplete: 'off', spellcheck: false, placeholder: 'did:plc:…' });
  const error = h('span', { class: 'error', role: 'alert' });
  return h(
    'form',
    {
      class: 'remote-members',
      onsubmit: (e) => {
        e.preventDefault();
        const did = input.value.trim();
        if (!did) return;
        error.textContent = '';
        app.client.setRemoteMember(threadId, did, true).then(
          () => app.announcer.say('The other relay can now write into this thread.'),
          (err: Error) => (error.textContent = err.message),
        );
      },
    },
    h('span', {}, remotes.length ? `Other relays in this thread: ${remotes.join(', ')}. ` : 'No other relay writes into this thread yet. '),
    h('label', { for: 'remote-did' }, 'Let another relay in (its DID)'),
    ' ',
    input,
    ' ',
    h('button', { type: 'submit', id: 'add-remote' }, 'Add'),
    ' ',
    error,
  );
}
