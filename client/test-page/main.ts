/**
 * A small page that loads the SDK for browser tests and benchmarks. Query parameters:
 * `user` (signed-in user), `thread` (thread to open), `refreshFirst=1` (fetch the thread
 * list before opening). Exposes `window.skein` = { client, view, ... } and renders the
 * newest messages into #messages so tests can check what a user would see.
 */
import * as Y from 'yjs';
import { type SkeinClient, type ThreadView, createSkeinClient } from '../index.ts';

const RENDER_WINDOW = 200;

interface TestApi {
  client: SkeinClient | null;
  view: ThreadView | null;
  ready: boolean;
  error: string | null;
  /** ms from script start to the first render of messages from the local copy. */
  firstRenderMs: number | null;
  renders: number;
  telemetry: unknown[];
  /** ms from script start to: client created, local copy loaded, first render. */
  phases: Record<string, number>;
  /** Sends and resolves with ms until a message with this (unique) text is rendered;  and resolves with */
  sendAndTimeRender(text: string): Promise<number>;
}

const t0 = performance.now();
const api: TestApi = {
  client: null,
  view: null,
  ready: false,
  error: null,
  firstRenderMs: null,
  renders: 0,
  telemetry: [],
  async sendAndTimeRender(text) {
    const view = api.view!;
    const start = performance.now();
    // Matched by text: the render can come before send() resolves (IndexedDB commit).
    const rendered = new Promise<number>((resolve) => {
      const off = view.subscribe(() => {
        render(view);
        const last = document.querySelector('#messages li:last-child') as HTMLElement | null;
        if (last?.textContent?.endsWith(': ' + text)) {
          off();
          resolve(performance.now() - start);
        }
      });
    });
    await view.send(text);
    return rendered;
  },
  phases: { scriptStart: t0 }, // since navigation start, so a bench can add it to the others
};
(window as any).skein = api;
(window as any).Y = Y; // for benchmarks that time Yjs itself in this page

const list = document.getElementById('messages')!;
const status = document.getElementById('status')!;

function render(view: ThreadView): void {
  const msgs = view.latest(RENDER_WINDOW);
  const frag = document.createDocumentFragment();
  for (const m of msgs) {
    const li = document.createElement('li');
    li.dataset.id = m.id;
    li.dataset.status = m.status;
    if (m.seq !== undefined) li.dataset.seq = String(m.seq);
    li.textContent = `${m.authorId}: ${m.text}`;
    frag.appendChild(li);
  }
  list.replaceChildren(frag);
  const s = view.syncInfo;
  status.dataset.state = s.state;
  status.dataset.connection = s.connection;
  status.textContent =
    s.connection === 'offline' && s.lastSyncedAt ? `offline – latest messages at ${new Date(s.lastSyncedAt).toISOString()}` : s.state;
  api.renders++;
}

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const user = q.get('user');
  const thread = q.get('thread');
  if (!user) return;
  // Dev tokens, cached so that a reload with the relay down still opens the thread.
  const tokenKey = `skein-test-token:${user}`;
  const getToken = async () => {
    const cached = localStorage.getItem(tokenKey);
    if (cached) return cached;
    const res = await fetch('/v1/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: user }),
    });
    const { token } = await res.json();
    localStorage.setItem(tokenKey, token);
    return token as string;
  };
  const client = await createSkeinClient({
    relayUrl: location.origin,
    userId: user,
    getToken,
    telemetry: (e) => api.telemetry.push(e),
  });
  api.client = client;
  api.phases.client = performance.now() - t0;
  if (q.get('refreshFirst') === '1') await client.refreshThreads();
  if (!thread) {
    api.ready = true;
    return;
  }
  api.phases.open = performance.now() - t0;
  const view = client.openThread(thread);
  api.view = view;
  // Able to send and receive live: connected to the thread's live document and synced.
  void view.relaySynced.then(() => (api.phases.relaySynced = performance.now() - t0));
  view.subscribe(render);
  await view.firstPaint;
  render(view);
  api.firstRenderMs = api.phases.firstRender = performance.now() - t0;
  api.phases.firstRenderCount = view.messages.length;
  await view.ready;
  api.phases.loaded = performance.now() - t0;
  render(view);
  api.phases.fullRender = performance.now() - t0;
  api.ready = true;
}

main().catch((err) => {
  api.error = String(err);
});
