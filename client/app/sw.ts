/**
 * The app's service worker: the app shell (index.html, app.js, app.css) is cached per build
 * version, so a reload or a new tab opens the app with the relay down and renders the
 * threads cached in IndexedDB. The relay's API (/v1/…) and /metrics are never cached: the
 * SDK decides what is fresh, not this worker. A new build is picked up in the background:
 * the browser fetches sw.js on navigation when the relay is reachable, a changed version
 * installs its own cache and takes over, and the next load runs it.
 */
/// <reference lib="webworker" />

declare const __SKEIN_SHELL_VERSION__: string;
declare const __SKEIN_SHELL_FILES__: string[];

const sw = self as unknown as ServiceWorkerGlobalScope;
const PREFIX = 'skein-shell-';
const CACHE = PREFIX + __SKEIN_SHELL_VERSION__;
/** Relative to the worker's scope: the app may be mounted under a path. */
const FILES = __SKEIN_SHELL_FILES__.map((f) => new URL(f, sw.registration.scope).href);
const INDEX = new URL('./', sw.registration.scope).href;

sw.addEventListener('install', (e) => {
  e.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(FILES))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

/** Paths under the scope that are the relay's, never the shell's. */
function isRelayPath(url: URL): boolean {
  const path = '/' + url.href.slice(sw.registration.scope.length);
  return path.startsWith('/v1/') || path === '/metrics';
}

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (!url.href.startsWith(sw.registration.scope) || isRelayPath(url)) return;
  // Every navigation in scope is the app (routes live in the hash).
  const key = req.mode === 'navigate' ? INDEX : url.href.split('#')[0]!;
  e.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(key, { ignoreSearch: req.mode === 'navigate' });
      return hit ?? fetch(req);
    }),
  );
});
