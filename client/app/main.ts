/**
 * The Skein chat web app the relay serves at `/`: dev sign-in, thread list, thread
 * creation (with the AT mirroring choice), the timeline with message statuses, receipts,
 * typing and presence, offline/resync/AT banners, and a rate-limited live region.
 *
 * Plain DOM, no framework: the SDK already owns all state (ThreadView, SkeinClient); the
 * app only renders it, keyed per message so that focus (e.g. on Retry) survives updates.
 */
import { type SkeinClient, type ThreadSummary, type ThreadView, type ViewMessage, SkeinError, createSkeinClient } from '../index.ts';
import { Announcer } from './announcer.ts';
import { formatTime, h, srOnly } from './dom.ts';
import { presentStatus, reasonText } from './status-view.ts';

/** Capabilities as the relay sends them (a superset of the SDK's typed view). */
interface AppCapabilities {
  devAuth?: boolean;
  atproto: {
    features: { write_bridge: boolean; repo_ingest: boolean };
    did: string | null;
    service: string | null;
    mirrorDefault?: boolean;
    degraded: boolean;
    reason?: string;
  };
}

const USER_KEY = 'skein-app:user';
const tokenKey = (user: string) => `skein-app:token:${user}`;
/** Threads whose documents the app keeps open (for live unread counts and last messages). */
const MAX_OPEN_THREADS = 20;
const POLL_MS = 5000;
const TYPING_SEND_EVERY_MS = 2000;
const AT_COLLECTION = 'dev.skein.chat.message';

const root = document.getElementById('root')!;
const announcer = new Announcer(document.getElementById('live')!);

/** Handles for tests and debugging in the console. */
const debug: { client: SkeinClient | null; announcer: Announcer; view: ThreadView | null; ready: boolean } = {
  client: null,
  announcer,
  view: null,
  ready: false,
};
(window as unknown as { skeinApp: typeof debug }).skeinApp = debug;

// ------------------------------------------------------------------ sign-in

async function devToken(user: string): Promise<string> {
  const res = await fetch('/v1/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: user }),
  });
  if (res.status === 404) throw new Error('This relay has dev sign-in turned off (SKEIN_DEV_AUTH=0).');
  const body = (await res.json().catch(() => null)) as { token?: string; error?: { message?: string } } | null;
  if (!res.ok || !body?.token) throw new Error(body?.error?.message ?? `Sign-in failed (${res.status}).`);
  return body.token;
}

function showSignIn(): void {
  const error = h('p', { class: 'error', role: 'alert' });
  const input = h('input', { id: 'signin-name', name: 'user', autocomplete: 'username', required: true, maxlength: 64 });
  const form = h(
    'form',
    {
      class: 'signin-form',
      onsubmit: (e) => {
        e.preventDefault();
        const user = input.value.trim();
        if (!user || user.includes('|')) {
          error.textContent = 'Enter a name (without "|").';
          return;
        }
        error.textContent = '';
        devToken(user).then(
          (token) => {
            localStorage.setItem(tokenKey(user), token);
            localStorage.setItem(USER_KEY, user);
            void startApp(user);
          },
          (err: Error) => {
            error.textContent = err.message.includes('fetch') ? 'The relay is not reachable.' : err.message;
          },
        );
      },
    },
    h('label', { for: 'signin-name' }, 'Your name'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  root.replaceChildren(
    h(
      'main',
      { class: 'signin' },
      h('h1', {}, 'Skein'),
      h('p', {}, 'Local-first chat: threads open instantly and work offline; a relay orders every message and can mirror it to the AT Protocol.'),
      form,
      h('p', { class: 'hint' }, 'Development sign-in: anyone can sign in under any name. Production relays use real tokens.'),
    ),
  );
  input.focus();
}

// ------------------------------------------------------------------ the app

interface ThreadUi {
  view: ThreadView;
  /**
   * Text of this user's messages seen while pending: the relay deletes a rejected message
   * from the document (a tombstone; only its canon entry stays), but its author must still
   * see what was refused and why.
   */
  own: Map<string, { text: string; clientSentAt: number }>;
  /** Status per message id as last seen, to announce changes (null until first render). */
  known: Map<string, ViewMessage['status']> | null;
  off: () => void;
}

/** Seconds until a JWT expires (0 when unreadable). */
function secondsLeft(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return (payload.exp ?? 0) - Date.now() / 1000;
  } catch {
    return 0;
  }
}

/**
 * The stored dev token, renewed when it is about to expire or the relay no longer accepts
 * it (e.g. a new data dir, so a new secret). Offline, the stored one is used as is.
 */
async function freshToken(user: string, check: boolean): Promise<string> {
  const stored = localStorage.getItem(tokenKey(user)) ?? '';
  let renew = secondsLeft(stored) < 3600;
  if (!renew && check) {
    const res = await fetch('/v1/threads', { headers: { authorization: `Bearer ${stored}` } }).catch(() => null);
    renew = res?.status === 401;
  }
  if (!renew) return stored;
  try {
    const token = await devToken(user);
    localStorage.setItem(tokenKey(user), token);
    return token;
  } catch {
    return stored;
  }
}

// Own pending texts are kept in localStorage too, so a reload still shows a later rejection.
const ownKey = (user: string, threadId: string) => `skein-app:own:${user}:${threadId}`;

function loadOwn(user: string, threadId: string): ThreadUi['own'] {
  try {
    return new Map(JSON.parse(localStorage.getItem(ownKey(user, threadId)) ?? '[]'));
  } catch {
    return new Map();
  }
}

function saveOwn(user: string, ui: ThreadUi): void {
  const entries = [...ui.own].slice(-200);
  if (entries.length === 0) localStorage.removeItem(ownKey(user, ui.view.threadId));
  else localStorage.setItem(ownKey(user, ui.view.threadId), JSON.stringify(entries));
}

async function startApp(user: string): Promise<void> {
  let token = await freshToken(user, true);
  const getToken = async () => {
    if (secondsLeft(token) < 3600) token = await freshToken(user, false);
    return token;
  };
  const client = await createSkeinClient({ relayUrl: location.origin, userId: user, getToken });
  debug.client = client;
  let caps: AppCapabilities | null = null;
  const threads = new Map<string, ThreadUi>();
  let currentId: string | null = null;
  let everOnline = false;
  let lastOnlineAt: number | null = null;
  let wasOnline: boolean | null = null;
  let lastTypingSent = 0;
  const rows = new Map<string, HTMLLIElement>();

  // ---- static shell
  const connText = h('span', { class: 'conn' });
  const banners = h('div', { class: 'banners' });
  const threadList = h('ul', { class: 'thread-list', id: 'thread-list' });
  const pane = h('main', { class: 'thread', id: 'thread-pane', 'aria-labelledby': 'thread-title' });
  const newThread = newThreadForm();
  root.replaceChildren(
    h(
      'div',
      { class: 'app' },
      h(
        'header',
        { class: 'topbar' },
        h('h1', {}, 'Skein'),
        h('span', { class: 'me' }, 'Signed in as ', h('strong', {}, user)),
        connText,
        h('button', { type: 'button', id: 'signout', onclick: () => void signOut() }, 'Sign out'),
      ),
      banners,
      h(
        'div',
        { class: 'layout' },
        h('nav', { class: 'sidebar', 'aria-labelledby': 'threads-heading' }, h('h2', { id: 'threads-heading' }, 'Threads'), threadList, newThread.el),
        pane,
      ),
    ),
  );

  // ---- data plumbing
  const fetchCaps = async () => {
    try {
      const res = await fetch('/v1/capabilities');
      if (res.ok) {
        caps = (await res.json()) as AppCapabilities;
        newThread.update();
        scheduleRender();
      }
    } catch {
      /* offline: keep the last ones */
    }
  };
  void fetchCaps();
  const poll = setInterval(() => {
    void fetchCaps();
    // The relay pushes thread-list changes; polling the list is the fallback while it cannot.
    if (client.threadPush !== 'online') void client.refreshThreads().catch(() => {});
  }, POLL_MS);
  client.subscribe(() => {
    syncOpenThreads();
    scheduleRender();
  });
  syncOpenThreads();

  /** Keeps views open for the newest threads (live unread counts) and the current one. */
  function syncOpenThreads(): void {
    const wanted = new Set(client.threads().slice(0, MAX_OPEN_THREADS).map((t) => t.id));
    if (currentId) wanted.add(currentId);
    for (const id of wanted) if (!threads.has(id)) openUi(id);
  }

  function openUi(id: string): ThreadUi {
    const view = client.openThread(id);
    const ui: ThreadUi = { view, own: loadOwn(user, id), known: null, off: () => {} };
    const offSub = view.subscribe(() => {
      announceChanges(ui);
      scheduleRender();
    });
    // Render a local send at once (subscribe coalesces per frame; the relay may answer sooner).
    const onTr = (tr: { local: boolean; changed: Map<unknown, unknown> }) => {
      if (tr.local && tr.changed.has(view.roots.messages) && id === currentId) renderThread();
    };
    view.doc.on('afterTransaction', onTr);
    ui.off = () => {
      offSub();
      view.doc.off('afterTransaction', onTr);
    };
    threads.set(id, ui);
    void view.ready.then(() => {
      announceChanges(ui);
      scheduleRender();
    });
    return ui;
  }

  /** The view's messages plus this user's rejected (tombstoned) ones, in display order. */
  function timelineOf(ui: ThreadUi): ViewMessage[] {
    const msgs = ui.view.messages;
    const present = new Set<string>();
    let dirty = false;
    for (const m of msgs) {
      present.add(m.id);
      if (m.mine && m.status === 'pending' && !ui.own.has(m.id)) {
        ui.own.set(m.id, { text: m.text, clientSentAt: m.clientSentAt });
        dirty = true;
      } else if (m.status !== 'pending' && ui.own.delete(m.id)) {
        dirty = true; // accepted: the document keeps it
      }
    }
    if (dirty) saveOwn(user, ui);
    const extra: ViewMessage[] = [];
    for (const [id, o] of ui.own) {
      if (present.has(id)) continue;
      const c = ui.view.roots.canon.get(id);
      if (c?.state !== 'rejected') continue;
      extra.push({ id, authorId: user, text: o.text, clientSentAt: o.clientSentAt, mine: true, status: 'rejected', error: c.error ?? 'REJECTED', seq: c.seq, sentAt: c.sentAt });
    }
    if (extra.length === 0) return msgs;
    const key = (m: ViewMessage) => m.seq ?? Number.MAX_SAFE_INTEGER;
    return [...msgs, ...extra].sort((a, b) => key(a) - key(b));
  }

  function titleOf(id: string): string {
    return threads.get(id)?.view.meta?.title || client.threads().find((t) => t.id === id)?.title || 'Untitled thread';
  }

  function announceChanges(ui: ThreadUi): void {
    if (ui.view.isPartial) return;
    const msgs = timelineOf(ui);
    if (!ui.known) {
      ui.known = new Map(msgs.map((m) => [m.id, m.status]));
      return;
    }
    const open = ui.view.threadId === currentId;
    for (const m of msgs) {
      const before = ui.known.get(m.id);
      if (before === m.status) continue;
      ui.known.set(m.id, m.status);
      if (!m.mine) {
        // Announced once the relay has it (it may first arrive without canon, as pending).
        if ((before === undefined || before === 'pending') && m.status !== 'pending') {
          announcer.say(open ? `${m.authorId}: ${m.text}` : `New message from ${m.authorId} in ${titleOf(ui.view.threadId)}`);
        }
        continue;
      }
      if (before === undefined) continue; // own new message: the composer already told the user
      const p = presentStatus(m, true);
      if (m.status === 'failed') announcer.say(`Your message could not be mirrored to AT. Retry is available.`);
      else if (m.status === 'rejected') announcer.say(`Your message was not delivered: ${reasonText(m.error)}.`);
      else announcer.say(`Your message: ${p.text}`);
    }
  }

  // ---- routing
  function route(): void {
    const m = /^#\/t\/([^/]+)$/.exec(location.hash);
    const id = m ? decodeURIComponent(m[1]!) : null;
    if (id === currentId) return;
    currentId = id;
    rows.clear();
    if (id && !threads.has(id)) openUi(id);
    debug.view = id ? threads.get(id)!.view : null;
    buildPane();
    scheduleRender();
  }
  window.addEventListener('hashchange', route);

  // ---- rendering
  let renderQueued = false;
  function scheduleRender(): void {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      renderAll();
    });
  }

  function currentConnection(): 'online' | 'connecting' | 'offline' {
    const v = currentId ? threads.get(currentId)?.view : null;
    if (typeof navigator !== 'undefined' && navigator.onLine === false) return 'offline';
    return v ? v.syncInfo.connection : client.connection;
  }

  function renderAll(): void {
    const conn = currentConnection();
    const online = conn === 'online';
    const wasEverOnline = everOnline;
    if (online) {
      everOnline = true;
      lastOnlineAt = Date.now();
    }
    // Only real changes: not the first connect after the page opened.
    if (wasOnline !== null && wasOnline !== online && wasEverOnline) {
      announcer.say(online ? 'Back online.' : 'You are offline. Messages you write are kept and sent later.');
    }
    wasOnline = online;
    const connecting = conn === 'connecting' && !everOnline;
    connText.textContent = online ? '● Online' : connecting ? '◌ Connecting' : '○ Offline';
    connText.className = `conn conn-${online ? 'online' : connecting ? 'connecting' : 'offline'}`;
    renderBanners(conn);
    renderThreadList();
    renderThread();
  }

  function renderBanners(conn: string): void {
    const out: HTMLElement[] = [];
    const offline = conn === 'offline' || (conn === 'connecting' && everOnline);
    if (offline) {
      const v = currentId ? threads.get(currentId)?.view : null;
      const at = Math.max(lastOnlineAt ?? 0, v?.syncInfo.lastSyncedAt ?? 0);
      out.push(
        h(
          'div',
          { class: 'banner banner-offline', id: 'offline-banner' },
          h('span', { 'aria-hidden': 'true' }, '⚡ '),
          at ? `Offline – latest messages at ${formatTime(at)}` : 'Offline – no messages loaded from the relay yet',
          h('span', { class: 'banner-detail' }, ' · You can keep writing; messages are sent when the relay is back.'),
        ),
      );
    }
    const bridgeOn = caps?.atproto.features.write_bridge === true;
    const mirrored = currentId ? threads.get(currentId)?.view.meta?.mirror === true : false;
    if (bridgeOn && caps?.atproto.degraded && (mirrored || !currentId)) {
      out.push(
        h(
          'div',
          { class: 'banner banner-warning', id: 'at-degraded-banner' },
          h('span', { 'aria-hidden': 'true' }, '⚠ '),
          'AT mirroring is delayed or failing',
          caps.atproto.reason ? ` (${caps.atproto.reason})` : '',
          '. Messages are safe on the relay and are mirrored when the AT service recovers.',
        ),
      );
    }
    const sig = out.map((e) => e.textContent).join('\n');
    if (banners.dataset.sig !== sig) {
      banners.dataset.sig = sig;
      banners.replaceChildren(...out);
    }
  }

  function renderThreadList(): void {
    const list = client.threads();
    const items: Array<{ t: ThreadSummary; unread: number; last: string }> = list.map((t) => {
      const v = threads.get(t.id)?.view;
      let last = t.lastMessage ? `${t.lastMessage.authorId}: ${t.lastMessage.text}` : 'No messages yet';
      let unread = 0;
      if (v && !v.isPartial) {
        const msgs = v.messages;
        const lm = msgs[msgs.length - 1];
        if (lm) last = `${lm.mine ? 'You' : lm.authorId}: ${lm.text}`;
        unread = t.id === currentId ? 0 : v.unreadCount;
      }
      return { t, unread, last };
    });
    const sig = JSON.stringify([currentId, items.map((i) => [i.t.id, i.t.title, i.t.archived, i.unread, i.last])]);
    if (threadList.dataset.sig === sig) return;
    threadList.dataset.sig = sig;
    const focusedId = (document.activeElement as HTMLElement | null)?.closest?.('#thread-list a')?.getAttribute('data-id');
    if (items.length === 0) {
      threadList.replaceChildren(h('li', { class: 'empty' }, 'No threads yet. Start one below.'));
      return;
    }
    threadList.replaceChildren(
      ...items.map(({ t, unread, last }) =>
        h(
          'li',
          {},
          h(
            'a',
            { href: `#/t/${encodeURIComponent(t.id)}`, 'data-id': t.id, 'aria-current': t.id === currentId ? 'page' : undefined },
            h('span', { class: 'thread-title' }, t.title || 'Untitled thread', t.archived ? h('span', { class: 'tag' }, ' (archived)') : null),
            unread > 0 ? h('span', { class: 'badge', 'data-unread': unread }, String(unread), srOnly(' unread')) : null,
            h('span', { class: 'thread-last' }, last.length > 80 ? last.slice(0, 79) + '…' : last),
          ),
        ),
      ),
    );
    if (focusedId) (threadList.querySelector(`a[data-id="${CSS.escape(focusedId)}"]`) as HTMLElement | null)?.focus();
  }

  // ---- the thread pane
  let paneEls: {
    title: HTMLElement;
    members: HTMLElement;
    mirror: HTMLElement;
    archive: HTMLButtonElement;
    resync: HTMLButtonElement;
    notices: HTMLElement;
    timeline: HTMLOListElement;
    typing: HTMLElement;
    composer: HTMLElement;
    input: HTMLTextAreaElement;
    sendError: HTMLElement;
  } | null = null;

  function buildPane(): void {
    paneEls = null;
    if (!currentId) {
      pane.replaceChildren(
        h('h2', { id: 'thread-title' }, 'No thread open'),
        h('p', { class: 'empty' }, 'Choose a thread on the left, or start a new one.'),
      );
      return;
    }
    const ui = threads.get(currentId)!;
    const input = h('textarea', {
      id: 'compose',
      rows: 2,
      placeholder: 'Write a message',
      oninput: () => {
        const now = Date.now();
        if (now - lastTypingSent > TYPING_SEND_EVERY_MS) {
          lastTypingSent = now;
          ui.view.setTyping(true);
        }
      },
      onkeydown: (e) => {
        const k = e as KeyboardEvent;
        if (k.key === 'Enter' && !k.shiftKey && !k.isComposing) {
          k.preventDefault();
          void send();
        }
      },
    });
    const sendError = h('p', { class: 'error', role: 'alert', id: 'send-error' });
    const send = async () => {
      const text = input.value.trim();
      if (!text) return;
      sendError.textContent = '';
      try {
        input.value = '';
        lastTypingSent = 0;
        ui.view.setTyping(false);
        await ui.view.send(text);
      } catch (err) {
        input.value = text;
        sendError.textContent = err instanceof SkeinError && err.code === 'THREAD_ARCHIVED' ? 'This thread is archived; nothing can be sent to it.' : `Not sent: ${(err as Error).message}`;
      }
    };
    const composer = h(
      'form',
      {
        class: 'composer',
        onsubmit: (e) => {
          e.preventDefault();
          void send();
        },
      },
      h('label', { for: 'compose', class: 'visually-hidden' }, 'Message'),
      input,
      h('button', { type: 'submit' }, 'Send'),
    );
    paneEls = {
      title: h('h2', { id: 'thread-title' }),
      members: h('p', { class: 'members' }),
      mirror: h('p', { class: 'mirror-note' }),
      archive: h('button', { type: 'button', id: 'archive', onclick: () => void archive(ui.view) }, 'Archive thread'),
      resync: h('button', { type: 'button', id: 'resync', onclick: () => void ui.view.resync().catch(() => {}) }, 'Resync'),
      notices: h('div', { class: 'notices' }),
      timeline: h('ol', { class: 'timeline', id: 'timeline', 'aria-label': 'Messages' }),
      typing: h('p', { class: 'typing', id: 'typing' }),
      composer,
      input,
      sendError,
    };
    pane.replaceChildren(
      h(
        'div',
        { class: 'thread-head' },
        h('div', {}, paneEls.title, paneEls.members, paneEls.mirror),
        h('div', { class: 'actions' }, paneEls.resync, paneEls.archive),
      ),
      paneEls.notices,
      paneEls.timeline,
      paneEls.typing,
      h('div', { class: 'composer-wrap' }, composer, sendError),
    );
  }

  async function archive(view: ThreadView): Promise<void> {
    try {
      await client.archiveThread(view.threadId);
      announcer.say(`Thread ${titleOf(view.threadId)} archived.`);
    } catch (err) {
      if (paneEls) paneEls.sendError.textContent = `Could not archive: ${(err as Error).message}`;
    }
  }

  /** Reopens an archived thread; resolves true once this copy of the document knows it. */
  async function reopen(view: ThreadView): Promise<boolean> {
    const res = await fetch(`/v1/threads/${encodeURIComponent(view.threadId)}/unarchive`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await getToken()}` },
    }).catch(() => null);
    if (!res?.ok) {
      if (paneEls) paneEls.sendError.textContent = res ? `Could not reopen the thread (${res.status}).` : 'Could not reopen the thread: the relay is not reachable.';
      return false;
    }
    void client.refreshThreads().catch(() => {});
    // The relay writes `meta.archived = false` into the document; sending waits for it.
    await new Promise<void>((resolve) => {
      if (!view.meta?.archived) return resolve();
      const timer = setTimeout(done, 15_000);
      const off = view.subscribe(() => {
        if (!view.meta?.archived) done();
      });
      function done() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
    announcer.say(`Thread ${titleOf(view.threadId)} reopened.`);
    return !view.meta?.archived;
  }

  /** Reopens the thread and sends a refused message's text again (as a new message). */
  async function reopenAndResend(ui: ThreadUi, m: ViewMessage): Promise<void> {
    if (!(await reopen(ui.view))) return;
    try {
      await ui.view.send(m.text);
      ui.own.delete(m.id);
      saveOwn(user, ui);
      scheduleRender();
    } catch (err) {
      if (paneEls) paneEls.sendError.textContent = `Not sent: ${(err as Error).message}`;
    }
  }

  /** The other way forward from an archived thread: a new thread with the same members. */
  async function continueInNewThread(view: ThreadView, text?: string): Promise<void> {
    const meta = view.meta;
    try {
      const t = await client.createThread({
        title: `${meta?.title || 'Untitled thread'} (continued)`,
        participants: (meta?.participants ?? []).filter((p) => p !== user),
        mirror: meta?.mirror === true && caps?.atproto.features.write_bridge === true,
      });
      location.hash = `#/t/${encodeURIComponent(t.id)}`;
      route();
      if (text) await threads.get(t.id)!.view.send(text);
      paneEls?.input.focus();
    } catch (err) {
      if (paneEls) paneEls.sendError.textContent = `Could not start a new thread: ${(err as Error).message}`;
    }
  }

  function atLink(uri: string): string | null {
    const service = caps?.atproto.service;
    const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
    if (!service || !m) return null;
    const q = new URLSearchParams({ repo: m[1]!, collection: m[2]!, rkey: m[3]! });
    return `${service.replace(/\/+$/, '')}/xrpc/com.atproto.repo.getRecord?${q}`;
  }

  function renderThread(): void {
    if (!currentId || !paneEls) return;
    const ui = threads.get(currentId);
    if (!ui) return;
    const { view } = ui;
    const meta = view.meta;
    const els = paneEls;
    els.title.textContent = meta?.title || 'Untitled thread';

    // Members and presence (awareness: never persisted or mirrored).
    const presence = view.presence;
    const here = new Set(presence.map((p) => p.userId));
    const typing = [...new Set(presence.filter((p) => p.typing && p.userId !== user).map((p) => p.userId))];
    const memberSig = JSON.stringify([meta?.participants, [...here].sort()]);
    if (els.members.dataset.sig !== memberSig) {
      els.members.dataset.sig = memberSig;
      els.members.replaceChildren(
        'Members: ',
        ...(meta?.participants ?? []).flatMap((p, i) => {
          const online = p === user || here.has(p);
          return [
            i > 0 ? ', ' : '',
            h(
              'span',
              { class: `member ${online ? 'present' : 'away'}`, 'data-user': p },
              h('span', { 'aria-hidden': 'true' }, online ? '● ' : '○ '),
              p === user ? `${p} (you)` : p,
              p === user ? null : h('span', { class: 'presence-text' }, online ? ' (here)' : ' (away)'),
            ),
          ];
        }),
      );
    }
    const typingText = typing.length === 0 ? '' : typing.length === 1 ? `${typing[0]} is typing…` : `${typing.join(', ')} are typing…`;
    if (els.typing.textContent !== typingText) els.typing.textContent = typingText;

    const bridgeOn = caps?.atproto.features.write_bridge === true;
    const mirrorText = !meta
      ? ''
      : meta.mirror
        ? bridgeOn
          ? 'Mirrored to AT: every message here is also published as a public AT Protocol record that anyone can read.'
          : 'Mirrored to AT, but this relay’s AT bridge is off right now: messages are kept and mirrored when it is back.'
        : 'Not mirrored: messages stay on this relay and are only visible to the members.';
    if (els.mirror.textContent !== mirrorText) els.mirror.textContent = mirrorText;

    // Notices: resync indicator (only while it runs), archived, refused.
    const notices: HTMLElement[] = [];
    const sync = view.syncInfo;
    if (sync.isResyncing) notices.push(h('p', { class: 'notice', id: 'resync-indicator', role: 'status' }, h('span', { 'aria-hidden': 'true' }, '↻ '), 'Resyncing this thread…'));
    if (meta?.archived) {
      notices.push(
        h(
          'div',
          { class: 'notice notice-archived', id: 'archived-notice' },
          h('p', {}, 'This thread is archived: it is read-only and new messages are not accepted.'),
          h('button', { type: 'button', id: 'reopen', onclick: () => void reopen(view) }, 'Reopen thread'),
          ' ',
          h('button', { type: 'button', onclick: () => void continueInNewThread(view) }, 'Continue in a new thread'),
        ),
      );
    }
    if (view.refused) notices.push(h('p', { class: 'notice notice-error', role: 'alert' }, `The relay refused this thread: ${view.refused.reason || 'code ' + view.refused.code}`));
    const noticeSig = JSON.stringify([sync.isResyncing, meta?.archived, view.refused]);
    if (els.notices.dataset.sig !== noticeSig) {
      els.notices.dataset.sig = noticeSig;
      els.notices.replaceChildren(...notices);
    }
    els.archive.disabled = meta?.archived === true;
    els.composer.hidden = meta?.archived === true;

    renderTimeline(ui, bridgeOn);

    // Reading the open thread while the page is visible writes a receipt (never backwards).
    if (document.visibilityState === 'visible' && !view.isPartial) {
      const msgs = view.messages;
      for (let i = msgs.length - 1; i >= 0; i--) {
        const m = msgs[i]!;
        if (m.seq === undefined || m.status === 'rejected') continue;
        if (m.seq > view.readUpTo(user)) view.markRead(m.id);
        break;
      }
    }
  }

  function renderTimeline(ui: ThreadUi, bridgeOn: boolean): void {
    const els = paneEls!;
    const view = ui.view;
    const msgs = timelineOf(ui);
    const online = view.syncInfo.connection === 'online';
    // "Seen by": each other member under the newest message by someone else they have read.
    const seenAt = new Map<number, string[]>();
    for (const p of view.meta?.participants ?? []) {
      if (p === user) continue;
      const upTo = view.readUpTo(p);
      if (upTo === 0) continue;
      for (let i = msgs.length - 1; i >= 0; i--) {
        const m = msgs[i]!;
        if (m.seq === undefined || m.seq > upTo || m.authorId === p || m.status === 'rejected') continue;
        seenAt.set(m.seq, [...(seenAt.get(m.seq) ?? []), p]);
        break;
      }
    }
    const present = new Set<string>();
    const ordered: HTMLLIElement[] = [];
    for (const m of msgs) {
      const seen = m.seq !== undefined ? (seenAt.get(m.seq) ?? []) : [];
      const sig = JSON.stringify([m.status, m.atUri, m.error, m.status === 'pending' && online, seen, bridgeOn && !!caps?.atproto.service]);
      let li = rows.get(m.id);
      if (!li || li.dataset.sig !== sig) {
        const fresh = messageRow(ui, m, seen, online);
        fresh.dataset.sig = sig;
        if (li) {
          const action = (document.activeElement as HTMLElement | null)?.closest('li') === li ? (document.activeElement as HTMLElement).dataset.action : undefined;
          li.replaceWith(fresh);
          if (action !== undefined) ((fresh.querySelector(`[data-action="${action}"]`) as HTMLElement | null) ?? fresh).focus();
        }
        li = fresh;
        rows.set(m.id, li);
      }
      present.add(m.id);
      ordered.push(li);
    }
    for (const [id, li] of rows) {
      if (!present.has(id)) {
        li.remove();
        rows.delete(id);
      }
    }
    const tl = els.timeline;
    const nearBottom = tl.scrollHeight - tl.scrollTop - tl.clientHeight < 80;
    let changed = false;
    ordered.forEach((li, i) => {
      if (tl.children[i] !== li) {
        tl.insertBefore(li, tl.children[i] ?? null);
        changed = true;
      }
    });
    if (msgs.length === 0 && !tl.querySelector('.empty')) tl.replaceChildren(h('li', { class: 'empty' }, 'No messages yet. Say hello.'));
    if (msgs.length > 0) tl.querySelector('.empty')?.remove();
    if (changed && nearBottom) tl.scrollTop = tl.scrollHeight;
  }

  function messageRow(ui: ThreadUi, m: ViewMessage, seen: string[], online: boolean): HTMLLIElement {
    const view = ui.view;
    const p = presentStatus(m, online);
    const status = h(
      'span',
      { class: `status status-${p.kind}`, title: p.label },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, p.icon),
      ' ',
      p.text,
      srOnly(`: ${p.detail}`),
    );
    const details: Array<HTMLElement | null> = [];
    if (m.status === 'confirmed' && m.atUri) {
      const href = atLink(m.atUri);
      details.push(h('span', { class: 'at-uri' }, href ? h('a', { href, target: '_blank', rel: 'noopener' }, m.atUri) : h('code', {}, m.atUri)));
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
              btn.disabled = true;
              view.retry(m.id).then(
                () => announcer.say('Retrying the AT mirror.'),
                (err: Error) => {
                  btn.disabled = false;
                  announcer.say(`Retry failed: ${err.message}`);
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
          ? h('button', { type: 'button', 'data-action': 'reopen-resend', onclick: () => void reopenAndResend(ui, m) }, 'Reopen the thread and send it again')
          : null,
        h(
          'button',
          { type: 'button', 'data-action': 'resend-new', onclick: () => void continueInNewThread(view, m.text) },
          'Send it in a new thread',
        ),
      );
    }
    return h(
      'li',
      { class: `msg ${m.mine ? 'mine' : 'theirs'} msg-${p.kind}`, 'data-id': m.id, 'data-status': p.kind, tabindex: '-1' },
      h(
        'div',
        { class: 'msg-meta' },
        h('span', { class: 'author' }, m.mine ? `${m.authorId} (you)` : m.authorId),
        ' ',
        h('time', { datetime: new Date(m.sentAt ?? m.clientSentAt).toISOString() }, formatTime(m.sentAt ?? m.clientSentAt)),
      ),
      h('p', { class: 'text' }, m.text),
      h('div', { class: 'msg-status' }, status, ...details),
      seen.length ? h('p', { class: 'seen' }, `Seen by ${seen.join(', ')}`) : null,
    );
  }

  // ---- new thread form
  function newThreadForm() {
    const title = h('input', { id: 'new-title', maxlength: 200, autocomplete: 'off' });
    const members = h('input', { id: 'new-members', autocomplete: 'off', 'aria-describedby': 'new-members-hint' });
    const mirrorNo = h('input', { type: 'radio', name: 'mirror', id: 'mirror-no', value: 'no', checked: true });
    const mirrorYes = h('input', { type: 'radio', name: 'mirror', id: 'mirror-yes', value: 'yes' });
    const bridgeNote = h('p', { class: 'hint', id: 'mirror-hint' });
    const error = h('p', { class: 'error', role: 'alert' });
    let touched = false;
    mirrorYes.addEventListener('change', () => (touched = true));
    mirrorNo.addEventListener('change', () => (touched = true));
    const el = h(
      'form',
      {
        class: 'new-thread',
        'aria-labelledby': 'new-thread-heading',
        onsubmit: (e) => {
          e.preventDefault();
          const participants = members.value
            .split(/[,\s]+/)
            .map((s) => s.trim())
            .filter(Boolean);
          error.textContent = '';
          client.createThread({ title: title.value.trim(), participants, mirror: mirrorYes.checked }).then(
            (t) => {
              title.value = '';
              members.value = '';
              announcer.say(`Thread ${t.title || 'Untitled thread'} created.`);
              location.hash = `#/t/${encodeURIComponent(t.id)}`;
              route();
              paneEls?.input.focus();
            },
            (err: Error) => (error.textContent = `Could not create the thread: ${err.message}`),
          );
        },
      },
      h('h2', { id: 'new-thread-heading' }, 'New thread'),
      h('label', { for: 'new-title' }, 'Title'),
      title,
      h('label', { for: 'new-members' }, 'Members'),
      members,
      h('p', { class: 'hint', id: 'new-members-hint' }, 'Names separated by commas. You are added automatically.'),
      h(
        'fieldset',
        { 'aria-describedby': 'mirror-hint' },
        h('legend', {}, 'Mirror to the AT Protocol?'),
        h('div', { class: 'radio' }, mirrorNo, h('label', { for: 'mirror-no' }, 'No – messages stay on this relay, visible to members only')),
        h('div', { class: 'radio' }, mirrorYes, h('label', { for: 'mirror-yes' }, 'Yes – also publish every message as a public AT record that anyone can read')),
        bridgeNote,
      ),
      h('button', { type: 'submit' }, 'Create thread'),
      error,
    );
    const update = () => {
      const on = caps?.atproto.features.write_bridge === true;
      mirrorYes.disabled = !on;
      if (!on) mirrorNo.checked = true;
      else if (!touched && caps?.atproto.mirrorDefault) mirrorYes.checked = true;
      bridgeNote.textContent = on
        ? 'This choice is fixed when the thread is created and shown to every member.'
        : 'This relay has AT mirroring turned off, so threads are not mirrored.';
    };
    update();
    return { el, update };
  }

  async function signOut(): Promise<void> {
    clearInterval(poll);
    for (const ui of threads.values()) ui.off();
    await client.signOut();
    // Sign-out clears this user's local data, the app's own keys included.
    for (const k of Object.keys(localStorage)) if (k.startsWith(`skein-app:own:${user}:`)) localStorage.removeItem(k);
    localStorage.removeItem(tokenKey(user));
    localStorage.removeItem(USER_KEY);
    location.hash = '';
    location.reload();
  }

  document.addEventListener('visibilitychange', scheduleRender);
  window.addEventListener('online', scheduleRender);
  window.addEventListener('offline', scheduleRender);
  // Typing and presence expire by time, not by an event.
  setInterval(scheduleRender, 1000);
  route();
  if (!currentId) buildPane();
  renderAll();
  debug.ready = true;
}

// The app shell works without the relay once this worker has cached it (client/app/sw.ts).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch((err: Error) => console.warn('service worker not registered:', err.message));
}

const saved = localStorage.getItem(USER_KEY);
if (saved && localStorage.getItem(tokenKey(saved))) void startApp(saved);
else showSignIn();
