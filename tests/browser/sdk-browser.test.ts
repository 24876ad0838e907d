/**
 * The SDK in real Chromium (playwright-core) against a real relay process, through the
 * SDK test page that the relay serves. One browser for the whole file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPage, launchChromium, openThreadPage, waitReady } from '../helpers/browser.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

let relay: RelayProcess;
let browser: Browser;
let staticDir: string;
const tokens: Record<string, string> = {};
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  staticDir = await buildTestPage();
  [relay, browser] = await Promise.all([startRelay({ SKEIN_STATIC_DIR: staticDir }), launchChromium()]);
  for (const u of ['alice', 'bob']) tokens[u] = await relay.token(u);
});
// A test that failed while the relay was stopped must not take the next ones with it.
afterEach(async ({ task }) => {
  if (task.result?.state === 'fail') console.error(`relay log tail:\n${relay.rawLog.slice(-40).join('\n')}`);
  if (relay && !relay.proc) await relay.start();
});
afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});

async function context(): Promise<BrowserContext> {
  const c = await browser.newContext();
  contexts.push(c);
  return c;
}

interface Row {
  id: string;
  text: string;
  seq?: number;
  status: string;
}

const rows = (page: Page): Promise<Row[]> =>
  page.evaluate(() =>
    (window as any).skein.view.messages.map((m: any) => ({ id: m.id, text: m.text, seq: m.seq, status: m.status })),
  );

/** Fails with `what` instead of hanging the test when `p` does not settle in time. */
function within<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let t: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const send = (page: Page, text: string): Promise<string> =>
  within(page.evaluate((t) => (window as any).skein.view.send(t), text), `send(${JSON.stringify(text)})`);
const stopRelay = () => within(relay.stop(), 'relay stop');
const startRelayAgain = () => within(relay.start(), 'relay start', 40_000);

/** Waits until the page's view holds all `ids` (and, with `canonical`, each has a seq). */
/** Waits until the page shows `n` messages, each with status 'sent'. */
async function allSent(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const ms = (window as any).skein.view.messages;
      return ms.length === n && ms.every((m: any) => m.status === 'sent');
    },
    n,
    { polling: 100, timeout: 30_000 },
  );
}

async function waitFor(page: Page, ids: string[], canonical = false): Promise<void> {
  try {
    await page.waitForFunction(
      ({ ids, canonical }) => {
        const byId = new Map((window as any).skein.view.messages.map((m: any) => [m.id, m]));
        return ids.every((id) => byId.has(id) && (!canonical || (byId.get(id) as any).seq !== undefined));
      },
      { ids, canonical },
      { polling: 100, timeout: 30_000 },
    );
  } catch (err) {
    // Say what the page was doing: leader or not, connection, sync state, refusal.
    const state = await page
      .evaluate(() => {
        const v = (window as any).skein.view;
        return { isLeader: v.isLeader, sync: v.syncInfo, refused: v.refused, history: v.syncHistory, n: v.messages.length };
      })
      .catch((e) => String(e));
    throw new Error(`${String(err)}\npage state: ${JSON.stringify(state)}`);
  }
}

const syncInfo = (page: Page) => page.evaluate(() => (window as any).skein.view.syncInfo);

async function createThread(): Promise<string> {
  return (await relay.createThread(tokens.alice!, ['bob'])).id;
}

describe('SDK in Chromium', () => {
  it('the relay serves the test page', async () => {
    const res = await fetch(`${relay.url}/sdk-test/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Skein SDK test page');
  });

  it('two tabs of one browser see each other live, and still while the relay is stopped; one tab leads', async () => {
    const thread = await createThread();
    const ctx = await context();
    const tab1 = await openThreadPage(ctx, relay.url, 'alice', thread);
    const tab2 = await openThreadPage(ctx, relay.url, 'alice', thread);
    const leaders = await Promise.all([tab1, tab2].map((p) => p.evaluate(() => (window as any).skein.view.isLeader)));
    expect(leaders.filter(Boolean)).toHaveLength(1);

    const live = await send(tab1, 'live from tab 1');
    await waitFor(tab2, [live], true);

    await stopRelay();
    const off2 = await send(tab2, 'offline from tab 2');
    const off1 = await send(tab1, 'offline from tab 1');
    await waitFor(tab1, [off2]);
    await waitFor(tab2, [off1]);
    expect((await rows(tab1)).find((r) => r.id === off2)?.status).toBe('pending');

    await startRelayAgain();
    await waitFor(tab1, [live, off1, off2], true);
    await waitFor(tab2, [live, off1, off2], true);
    expect(await rows(tab1)).toEqual(await rows(tab2));
    expect((await rows(tab1)).map((r) => r.seq)).toEqual([1, 2, 3]);

    // The leader closes: the other tab takes over the relay connection and still delivers.
    const [leader, other] = leaders[0] ? [tab1, tab2] : [tab2, tab1];
    await leader.close();
    await other.waitForFunction(() => (window as any).skein.view.isLeader, undefined, { polling: 100 });
    const after = await send(other, 'after leader closed');
    await waitFor(other, [after], true);
    await ctx.close();
  });

  it('two tabs of one user alternate o1..o6 while the relay is stopped; the seqs keep that order', async () => {
    const thread = await createThread();
    const ctx = await context();
    const tab1 = await openThreadPage(ctx, relay.url, 'alice', thread);
    const tab2 = await openThreadPage(ctx, relay.url, 'alice', thread);
    await Promise.all([tab1, tab2].map((p) => p.waitForFunction(() => (window as any).skein.view.syncInfo.state === 'SYNCED', undefined, { polling: 100 })));
    await stopRelay();
    const ids: string[] = [];
    for (let i = 1; i <= 6; i++) {
      const [from, to] = i % 2 ? [tab1, tab2] : [tab2, tab1];
      ids.push(await send(from, `o${i}`));
      await waitFor(to, ids); // the next message is written after this one in both tabs
    }
    for (const p of [tab1, tab2]) expect((await rows(p)).map((r) => r.text)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'o6']);
    await startRelayAgain();
    for (const p of [tab1, tab2]) {
      await waitFor(p, ids, true);
      const r = await rows(p);
      expect(r.map((x) => x.text)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'o6']);
      expect(r.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    }
    await ctx.close();
  });

  it("a follower tab's typing reaches the other device through the leader tab's connection", async () => {
    const thread = await createThread();
    const ctx = await context();
    const tab1 = await openThreadPage(ctx, relay.url, 'alice', thread);
    const tab2 = await openThreadPage(ctx, relay.url, 'alice', thread);
    const bob = await openThreadPage(await context(), relay.url, 'bob', thread);
    const follower = (await tab1.evaluate(() => (window as any).skein.view.isLeader)) ? tab2 : tab1;
    await follower.evaluate(() => (window as any).skein.view.setTyping(true));
    await bob.waitForFunction(
      () => (window as any).skein.view.presence.some((p: any) => p.userId === 'alice' && p.typing),
      undefined,
      { polling: 100, timeout: 20_000 },
    );
    await follower.evaluate(() => (window as any).skein.view.setTyping(false));
    await bob.waitForFunction(
      () => !(window as any).skein.view.presence.some((p: any) => p.userId === 'alice' && p.typing),
      undefined,
      { polling: 100, timeout: 20_000 },
    );
    await Promise.all([ctx.close(), bob.context().close()]);
  });

  it('two browser contexts (two devices) exchange messages through the relay', async () => {
    const thread = await createThread();
    const alice = await openThreadPage(await context(), relay.url, 'alice', thread);
    const bob = await openThreadPage(await context(), relay.url, 'bob', thread);
    const a = await send(alice, 'hello bob');
    await waitFor(bob, [a], true);
    const b = await send(bob, 'hello alice');
    // Both pages, not only the receiving one: bob's own message gets its seq when the relay
    // acknowledges it, which can come after alice already shows it.
    await waitFor(alice, [a, b], true);
    await waitFor(bob, [a, b], true);
    await Promise.all([alice, bob].map((p) => allSent(p, 2)));
    expect(await rows(alice)).toEqual(await rows(bob));
    expect((await rows(bob)).map((r) => r.text)).toEqual(['hello bob', 'hello alice']);
    expect((await rows(bob)).every((r) => r.status === 'sent')).toBe(true);
    await Promise.all([alice.context().close(), bob.context().close()]);
  });

  it('both devices compose while the relay is down; afterwards both hold the same messages in the same order', async () => {
    const thread = await createThread();
    const alice = await openThreadPage(await context(), relay.url, 'alice', thread);
    const bob = await openThreadPage(await context(), relay.url, 'bob', thread);
    // Online as well: an empty new thread validates as SYNCED from the thread list before its
    // socket opens, and a first connection after the outage is no reconnect (no UNKNOWN).
    const syncedOnline = () => (window as any).skein.view.syncInfo.state === 'SYNCED' && (window as any).skein.view.syncInfo.connection === 'online';
    await Promise.all([alice, bob].map((p) => p.waitForFunction(syncedOnline, undefined, { polling: 100 })));
    await stopRelay();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await send(alice, `alice offline ${i}`));
      ids.push(await send(bob, `bob offline ${i}`));
    }
    await startRelayAgain();
    await waitFor(alice, ids, true);
    await waitFor(bob, ids, true);
    // Back online after being offline: UNKNOWN until validated, then SYNCED again.
    for (const p of [alice, bob]) {
      await p.waitForFunction(() => (window as any).skein.view.syncInfo.state === 'SYNCED', undefined, { polling: 100 });
      const { h, info } = await p.evaluate(() => ({ h: (window as any).skein.view.syncHistory as string[], info: (window as any).skein.view.syncInfo }));
      expect(h.slice(h.indexOf('SYNCED')), `history ${JSON.stringify(h)}, now ${JSON.stringify(info)}`).toContain('UNKNOWN');
    }
    const ra = await rows(alice);
    const rb = await rows(bob);
    expect(ra).toEqual(rb);
    expect(ra).toHaveLength(6);
    expect(new Set(ra.map((r) => r.id)).size).toBe(6);
    expect(ra.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // Each author's messages keep their relative order.
    for (const who of ['alice', 'bob']) {
      const mine = ra.filter((r) => r.text.startsWith(who)).map((r) => r.text);
      expect(mine).toEqual([0, 1, 2].map((i) => `${who} offline ${i}`));
    }
    await Promise.all([alice.context().close(), bob.context().close()]);
  });

  it('a message sent and its tab closed at once is there after reopening and reaches the other device', async () => {
    const thread = await createThread();
    const aliceCtx = await context();
    const bob = await openThreadPage(await context(), relay.url, 'bob', thread);
    const tab = await openThreadPage(aliceCtx, relay.url, 'alice', thread);
    // Relay down: the message cannot leave the tab before it closes; only IndexedDB has it.
    await stopRelay();
    const id = await send(tab, 'sent then closed');
    await tab.close();
    await startRelayAgain();
    const reopened = await openThreadPage(aliceCtx, relay.url, 'alice', thread);
    expect((await rows(reopened)).map((r) => r.id)).toContain(id);
    await waitFor(bob, [id], true);
    expect((await rows(bob)).filter((r) => r.id === id)).toHaveLength(1);
    await Promise.all([aliceCtx.close(), bob.context().close()]);
  });

  it('a reload with the relay down renders the cached messages', async () => {
    const thread = await createThread();
    const ctx = await context();
    const page = await openThreadPage(ctx, relay.url, 'alice', thread);
    const ids = [await send(page, 'one'), await send(page, 'two')];
    await waitFor(page, ids, true);
    await page.waitForFunction(() => (window as any).skein.view.syncInfo.lastSyncedAt !== null, undefined, { polling: 100 });
    await stopRelay();
    // The app shell comes from the browser's cache (as a service worker would serve it);
    // everything else must come from IndexedDB.
    await ctx.route('**/sdk-test/**', (route) => {
      const file = new URL(route.request().url()).pathname.endsWith('.js') ? 'main.js' : 'index.html';
      return route.fulfill({
        body: readFileSync(join(staticDir, 'sdk-test', file)),
        contentType: file.endsWith('.js') ? 'text/javascript' : 'text/html',
      });
    });
    await page.reload();
    await waitReady(page);
    const texts = await page.$$eval('#messages li', (lis) => lis.map((li) => li.textContent));
    expect(texts).toEqual(['alice: one', 'alice: two']);
    const info = await syncInfo(page);
    expect(info.connection).not.toBe('online');
    expect(info.lastSyncedAt).toBeGreaterThan(0);
    await ctx.unrouteAll();
    await startRelayAgain();
    await ctx.close();
  });

  it('a thread whose local copy is missing messages goes OUT_OF_SYNC, resyncs and ends SYNCED', async () => {
    const thread = await createThread();
    const ctx = await context();
    const first = await openThreadPage(ctx, relay.url, 'alice', thread);
    const ids = [await send(first, 'a'), await send(first, 'b'), await send(first, 'c')];
    await waitFor(first, ids, true);
    await first.close();
    // Another device writes two more while this browser has the thread closed.
    const stock = connectClient(relay.wsUrl, thread, tokens.bob!, 'bob');
    await synced(stock);
    const more = [stock.send('d'), stock.send('e')];
    await stock.until(() => more.every((m) => stock.roots.canon.has(m.id)), 'stock canon');
    stock.destroy();
    // The thread list (lastSeq 5) is fetched before the thread opens with seqs 1..3.
    const page = await openThreadPage(ctx, relay.url, 'alice', thread, '&refreshFirst=1');
    await page.waitForFunction(
      () => {
        const v = (window as any).skein.view;
        return v.syncInfo.state === 'SYNCED' && !v.syncInfo.isResyncing;
      },
      undefined,
      { polling: 100, timeout: 30_000 },
    );
    const history = await page.evaluate(() => (window as any).skein.view.syncHistory);
    expect(history, JSON.stringify(history)).toEqual(['UNKNOWN', 'OUT_OF_SYNC', 'SYNCED']);
    expect(await page.evaluate(() => (window as any).skein.view.resyncCount)).toBe(1);
    expect((await rows(page)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    await ctx.close();
  });
  it('a tab opens its relay socket before it knows it leads: closed unused while another tab leads, adopted when it takes over', async () => {
    const thread = await createThread();
    const ctx = await browser.newContext();
    // Records every socket the page opens to a thread's document, and whether it closed.
    await ctx.addInitScript(() => {
      const w = window as any;
      w.__sync = [];
      w.WebSocket = new Proxy(WebSocket, {
        construct(target, args: [string, string?]) {
          const ws = new target(...args);
          if (String(args[0]).includes('/v1/sync/')) {
            const entry = { closed: false };
            w.__sync.push(entry);
            ws.addEventListener('close', () => (entry.closed = true));
          }
          return ws;
        },
      });
    });
    // Another tab holds the thread's leader lock until told to let go.
    const holder = await ctx.newPage();
    await holder.goto(`${relay.url}/sdk-test/`);
    const lockName = `skein:${new URL(relay.url).origin}:alice:leader:${thread}`;
    await holder.evaluate(
      (name) =>
        new Promise<void>((held) => {
          void navigator.locks.request(name, () => {
            held();
            return new Promise<void>((r) => ((window as any).letGo = r));
          });
        }),
      lockName,
    );
    const sockets = (p: Page) => p.evaluate(() => (window as any).__sync.map((s: { closed: boolean }) => s.closed) as boolean[]);
    // A follower: its early socket is closed unused (EARLY_SOCKET_MS), and it opens no other.
    const follower = await openThreadPage(ctx, relay.url, 'alice', thread);
    await follower.waitForFunction(() => (window as any).__sync[0]?.closed === true, undefined, { polling: 100, timeout: 20_000 });
    expect(await sockets(follower)).toEqual([true]);
    expect(await follower.evaluate(() => (window as any).skein.view.isLeader)).toBe(false);
    await follower.close();
    // A tab that takes over: it syncs on the socket it opened while waiting for the lock.
    const next = await openThreadPage(ctx, relay.url, 'alice', thread);
    await next.waitForFunction(() => (window as any).__sync.length === 1, undefined, { polling: 20, timeout: 20_000 });
    await holder.evaluate(() => (window as any).letGo());
    const id = await send(next, 'on the early socket');
    await waitFor(next, [id], true);
    expect(await next.evaluate(() => (window as any).skein.view.isLeader)).toBe(true);
    expect(await sockets(next)).toEqual([false]);
    await ctx.close();
  });
});
