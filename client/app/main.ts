/**
 * The Skein chat web app the relay serves at `/`: sign-in, the thread list, the open thread
 * and its composer, banners and a rate-limited live region. This file wires them: the app
 * state (app-state.ts), routing (`#/t/<id>`), the render loop and sign-out. Each view lives
 * in its own file, named for what it shows.
 *
 * Plain DOM, no framework: the SDK already owns all state (ThreadView, SkeinClient); the
 * app only renders it.
 */
import { type Connection, type SkeinClient, type ThreadView, createSkeinClient } from '../index.ts';
import { Announcer } from './announcer.ts';
import type { App, ThreadUi } from './app-state.ts';
import { BannersView } from './banners-view.ts';
import { h } from './dom.ts';
import { newThreadForm } from './new-thread-form.ts';
import { guestOffer } from './guest-offer.ts';
import { type AppCapabilities, GUEST_KEPT_KEY, GUEST_KEY, USER_KEY, freshToken, secondsLeft, tokenKey } from './session.ts';
import { showSignIn } from './sign-in-view.ts';
import { ThreadListView } from './thread-list-view.ts';
import { ThreadPane } from './thread-pane.ts';
import { announceChanges, forgetOwn, loadOwn } from './thread-ui.ts';

/** Threads whose documents the app keeps open (for live unread counts and last messages). */
const MAX_OPEN_THREADS = 20;
/** Capabilities are polled; the thread list too, but only while the relay cannot push it. */
const POLL_MS = 5000;

const root = document.getElementById('root')!;
const announcer = new Announcer(document.getElementById('live')!);

/** Handles for tests and debugging in the console. */
const debug: { client: SkeinClient | null; announcer: Announcer; view: ThreadView | null; pane: ThreadPane | null; ready: boolean } = {
  client: null,
  announcer,
  view: null,
  pane: null,
  ready: false,
};
(window as unknown as { skeinApp: typeof debug }).skeinApp = debug;

/** Capabilities of a guest session: no relay, so no AT and the default limits. */
const GUEST_CAPS: AppCapabilities = {
  atproto: { features: { write_bridge: false, repo_ingest: false }, did: null, service: null, degraded: false },
  limits: { maxTextLength: 10_000 },
};

async function startApp(signedIn: string | null, signedInNow: boolean): Promise<void> {
  // A guest (signedIn null) makes no network request: no token, no capabilities, no relay.
  const guest = signedIn === null;
  const user = signedIn ?? 'guest';
  // The stored token is checked with the relay (and renewed if it was refused) while the
  // client opens and the thread paints from the local copy: only the relay needs the token,
  // so the check must not hold the first paint back (a round trip, more on a busy relay).
  let token = guest ? '' : (localStorage.getItem(tokenKey(user)) ?? '');
  const checked = guest ? Promise.resolve('') : freshToken(user, true).then((t) => (token = t));
  const getToken = async () => {
    await checked;
    if (!guest && secondsLeft(token) < 3600) token = await freshToken(user, false);
    return token;
  };
  performance.mark('skein-app:start');
  const client = guest ? await createSkeinClient({ guest: true }) : await createSkeinClient({ relayUrl: location.origin, userId: user, getToken });
  debug.client = client;
  performance.mark('skein-app:client');

  let renderQueued = false;
  const app: App = {
    user,
    guest,
    client,
    announcer,
    threads: new Map<string, ThreadUi>(),
    caps: guest ? GUEST_CAPS : null,
    currentId: null,
    getToken,
    scheduleRender() {
      if (renderQueued) return;
      renderQueued = true;
      queueMicrotask(() => {
        renderQueued = false;
        renderAll();
      });
    },
    show(id) {
      const hash = id ? `#/t/${encodeURIComponent(id)}` : '#/';
      if (location.hash !== hash) location.hash = hash;
      route();
    },
    titleOf(id) {
      return app.threads.get(id)?.view.meta?.title || client.threads().find((t) => t.id === id)?.title || 'Untitled thread';
    },
    showError: (text) => pane.showError(text),
    focusComposer: () => pane.focusComposer(),
  };

  // ---- static shell
  // The header's state: the relay connection, or for a guest where the threads live.
  const connText = guest
    ? h('span', { class: 'conn conn-local', id: 'conn', title: 'Nothing is sent to a relay. Sign in to share these threads.' }, h('span', { 'aria-hidden': 'true' }, '⌂ '), 'This browser only')
    : h('span', { class: 'conn', id: 'conn' });
  const banners = new BannersView();
  const threadList = new ThreadListView();
  const pane = new ThreadPane(app);
  debug.pane = pane;
  const newThread = newThreadForm(app);
  const layout = h(
    'div',
    { class: 'layout' },
    h('nav', { class: 'sidebar', 'aria-labelledby': 'threads-heading' }, h('h2', { id: 'threads-heading', tabindex: '-1' }, 'Threads'), threadList.el, newThread.el),
    pane.el,
  );
  root.replaceChildren(
    h(
      'div',
      { class: 'app' },
      h('a', { class: 'skip-link', href: '#compose', onclick: (e) => skipToContent(e) }, 'Skip to the message box'),
      h(
        'header',
        { class: 'topbar' },
        h('h1', {}, 'Skein'),
        guest
          ? h('span', { class: 'me' }, h('strong', {}, 'Guest'))
          : h('span', { class: 'me' }, 'Signed in as ', h('strong', {}, user)),
        connText,
        guest
          ? h('button', { type: 'button', id: 'guest-signin', onclick: () => leaveGuest() }, 'Sign in')
          : h('button', { type: 'button', id: 'signout', onclick: () => void signOut() }, 'Sign out'),
      ),
      banners.el,
      layout,
    ),
  );

  /** The skip link: to the composer when a thread is open, else to the thread list. */
  function skipToContent(e: Event): void {
    e.preventDefault();
    if (app.currentId) pane.focusComposer();
    else threadList.focus();
  }

  // ---- data plumbing
  const fetchCaps = async () => {
    try {
      const res = await fetch('/v1/capabilities');
      if (res.ok) {
        app.caps = (await res.json()) as AppCapabilities;
        newThread.update();
        app.scheduleRender();
      }
    } catch {
      /* offline: keep the last ones */
    }
  };
  if (!guest) void fetchCaps();
  const poll = setInterval(() => {
    if (guest) return;
    void fetchCaps();
    // The relay pushes thread-list changes; polling the list is the fallback while it cannot.
    if (client.threadPush !== 'online') void client.refreshThreads().catch(() => {});
  }, POLL_MS);
  // Removed from a thread (docs/design/membership.md): the SDK dropped its local data.
  client.onThreadRemoved((id) => {
    const title = app.threads.has(id) ? app.titleOf(id) : 'a thread';
    app.threads.get(id)?.off();
    app.threads.delete(id);
    if (app.currentId === id) app.show(null);
    announcer.say(`You were removed from ${title}. Its messages were deleted from this device.`);
    app.scheduleRender();
  });
  client.subscribe(() => {
    syncOpenThreads();
    app.scheduleRender();
  });

  /** Keeps views open for the newest threads (live unread counts) and the current one. */
  function syncOpenThreads(): void {
    const wanted = new Set(client.threads().slice(0, MAX_OPEN_THREADS).map((t) => t.id));
    if (app.currentId) wanted.add(app.currentId);
    for (const id of wanted) if (!app.threads.has(id)) openUi(id);
  }

  function openUi(id: string): ThreadUi {
    const view = client.openThread(id);
    const ui: ThreadUi = { view, own: loadOwn(user, id), known: null, off: () => {} };
    const offSub = view.subscribe(() => {
      announceChanges(app, ui);
      app.scheduleRender();
    });
    // Render a local send at once (subscribe coalesces per frame; the relay may answer sooner).
    const onTr = (tr: { local: boolean; changed: Map<unknown, unknown> }) => {
      if (tr.local && tr.changed.has(view.roots.messages) && id === app.currentId) pane.render();
    };
    view.doc.on('afterTransaction', onTr);
    ui.off = () => {
      offSub();
      view.doc.off('afterTransaction', onTr);
    };
    app.threads.set(id, ui);
    // The cached newest window paints first; the whole local copy follows.
    void view.firstPaint.then(() => app.scheduleRender());
    void view.ready.then(() => {
      announceChanges(app, ui);
      app.scheduleRender();
    });
    return ui;
  }

  // ---- routing
  let routed = false;
  function route(): void {
    const m = /^#\/t\/([^/]+)$/.exec(location.hash);
    const id = m ? decodeURIComponent(m[1]!) : null;
    if (routed && id === app.currentId) return;
    routed = true;
    app.currentId = id;
    if (id && !app.threads.has(id)) {
      // Timing marks for traces and the bench (tests/bench/windowed-browser.bench.ts).
      performance.mark('skein-app:open');
      openUi(id);
    }
    debug.view = id ? app.threads.get(id)!.view : null;
    // Narrow screens show the list or the thread, not both.
    layout.classList.toggle('has-thread', id !== null);
    pane.build();
    app.scheduleRender();
  }
  window.addEventListener('hashchange', route);

  // ---- rendering
  let everOnline = false;
  let lastOnlineAt: number | null = null;
  let wasOnline: boolean | null = null;

  function currentConnection(): Connection {
    const v = app.currentId ? app.threads.get(app.currentId)?.view : null;
    if (typeof navigator !== 'undefined' && navigator.onLine === false) return 'offline';
    return v ? v.syncInfo.connection : client.connection;
  }

  function renderAll(): void {
    if (guest) {
      // No relay: nothing connects, nothing is offline, nothing waits to be sent.
      threadList.render(app);
      pane.render();
      return;
    }
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
    banners.render(app, conn, everOnline, lastOnlineAt);
    threadList.render(app);
    pane.render();
  }

  /** Back to the sign-in screen; the guest threads stay (offered for upload after sign-in). */
  function leaveGuest(): void {
    localStorage.removeItem(GUEST_KEY);
    localStorage.removeItem(GUEST_KEPT_KEY);
    location.hash = '';
    location.reload();
  }

  async function signOut(): Promise<void> {
    clearInterval(poll);
    for (const ui of app.threads.values()) ui.off();
    await client.signOut();
    // Sign-out clears this user's local data, the app's own keys included.
    forgetOwn(user);
    localStorage.removeItem(tokenKey(user));
    localStorage.removeItem(USER_KEY);
    location.hash = '';
    location.reload();
  }

  document.addEventListener('visibilitychange', app.scheduleRender);
  window.addEventListener('online', app.scheduleRender);
  window.addEventListener('offline', app.scheduleRender);
  // Typing and presence expire by time, not by an event.
  setInterval(app.scheduleRender, 1000);
  route();
  renderAll();
  // The thread on screen opens first; the other views (unread counts) once it has painted,
  // so their IndexedDB loads and sockets do not compete with its first paint.
  const shown = (app.currentId ? app.threads.get(app.currentId)?.view.firstPaint : undefined) ?? Promise.resolve();
  void shown.then(syncOpenThreads, syncOpenThreads);
  // After signing in, the keyboard starts at the thread list (or the New thread button).
  if (signedInNow) {
    if (client.threads().length) threadList.focus();
    else (document.getElementById('new-thread-toggle') as HTMLElement | null)?.focus();
  }
  if (!guest) {
    // After the first paint too: counting guest threads opens another IndexedDB database.
    void shown
      .catch(() => {})
      .then(() => guestOffer(client, announcer, () => void client.refreshThreads().catch(() => {})))
      .then((offer) => {
        if (offer) banners.el.after(offer);
      });
  }
  debug.ready = true;
}

// The app shell works without the relay once this worker has cached it (client/app/sw.ts).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch((err: Error) => console.warn('service worker not registered:', err.message));
}

const saved = localStorage.getItem(USER_KEY);
if (saved && localStorage.getItem(tokenKey(saved))) void startApp(saved, false);
else if (localStorage.getItem(GUEST_KEY)) void startApp(null, false);
else {
  showSignIn(
    root,
    (user) => void startApp(user, true),
    () => {
      localStorage.setItem(GUEST_KEY, '1');
      void startApp(null, true);
    },
  );
}
