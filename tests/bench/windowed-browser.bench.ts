/**
 * Threads without a size limit (issue #14), in Chromium: a thread of 1,000,000 messages
 * (generations of 1,000, bulk loaded through the relay's commit path) opened by the SDK.
 * - cold (empty browser, history on the relay) and warm (local cache present, median of
 *   BENCH_WARM_RUNS, default 5):
 *   open() → first paint, and open() → able to send and receive (synced with the live doc);
 * - scrolling back: 20 × loadOlder(100) pages (IndexedDB, then the relay) while the page
 *   renders, with frame intervals (p95, max) and long tasks (> 50 ms) during the paging;
 * - the web app: its cold open, its warm open (median of BENCH_WARM_RUNS reloads: from its
 *   `skein-app:open` / `skein-app:start` marks and from navigation start to the newest
 *   message's row), then its windowed timeline scrolled to the top 30 times (each time the
 *   next older page comes in), frame intervals and long tasks meanwhile.
 *
 *   BENCH_WINDOWED_MESSAGES=1000000 npm run bench -- windowed-browser
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { buildApp } from '../../client/app/build.ts';
import { signInApp } from '../helpers/app-browser.ts';
import { buildTestPage, launchChromium, openThreadPage } from '../helpers/browser.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';
import { bulkLoad } from './windowed/bulk-load.ts';

const MESSAGES = Number(process.env.BENCH_WINDOWED_MESSAGES ?? 1_000_000);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function phases(page: Page): Promise<{ paint: number; live: number; shown: number; navPaint: number; scriptPaint: number }> {
  await page
    .waitForFunction(() => (window as any).skein.phases.relaySynced !== undefined, undefined, { polling: 20, timeout: 60_000 })
    .catch(async (err) => {
      const s = await page.evaluate(() => ({ phases: (window as any).skein.phases, sync: (window as any).skein.view?.syncInfo }));
      throw new Error(`never synced with the relay: ${JSON.stringify(s)} (${err})`);
    });
  return page.evaluate(() => {
    const s = (window as any).skein;
    return { scriptPaint: s.phases.firstRender, navPaint: s.phases.scriptStart + s.phases.firstRender, paint: s.phases.firstRender - s.phases.open, live: s.phases.relaySynced - s.phases.open, shown: s.phases.firstRenderCount };
  });
}

export async function run(): Promise<void> {
  const staticDir = await buildTestPage(await buildApp(mkdtempSync(join(tmpdir(), 'skein-app-'))));
  const dir = mkdtempSync(join(tmpdir(), 'skein-windowed-browser-'));
  const relay = new RelayProcess(dir, { SKEIN_STATIC_DIR: staticDir, SKEIN_GENERATION_MESSAGES: '1000' });
  await relay.start();
  const alice = await relay.token('alice');
  const { id } = await relay.createThread(alice, ['bob'], 'a million messages');
  await relay.stop();
  const t0 = performance.now();
  const store = new SqliteStore(join(dir, 'skein.sqlite'), { synchronous: 'NORMAL' });
  await bulkLoad(store, id, { messages: MESSAGES, perGeneration: 1000, authors: ['alice', 'bob'] });
  await store.close();
  console.log(`  ${MESSAGES} messages bulk loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await relay.start();
  // A few live messages in the current generation, written by another member.
  const { liveDoc } = (await relay.api('GET', `/v1/threads/${id}`, alice)).body as { liveDoc: string };
  const bob = connectClient(relay.wsUrl, liveDoc, await relay.token('bob'), 'bob');
  await synced(bob);
  const live = Array.from({ length: 20 }, (_, i) => bob.send(`live message ${i}`));
  await bob.until(() => live.every((m) => bob.roots.canon.has(m.id)), 'live canon');
  bob.destroy();

  const browser = await launchChromium();
  try {
    const ctx = await browser.newContext();
    const cold = await phases(await openThreadPage(ctx, relay.url, 'alice', id));
    // Let the cold page store its window and history before the warm opens.
    await new Promise((r) => setTimeout(r, 1500));
    const warm: Array<{ paint: number; live: number; shown: number; navPaint: number; scriptPaint: number }> = [];
    let page: Page | null = null;
    for (let i = 0; i < WARM_RUNS; i++) {
      for (const p of ctx.pages()) await p.close();
      page = await openThreadPage(ctx, relay.url, 'alice', id);
      warm.push(await phases(page));
    }
    // A string, not a function: tsx would wrap named inner functions in a helper the page lacks.
    const paging = (await page!.evaluate(`(async () => {
      const s = window.skein;
      const frames = [];
      let long = 0;
      const obs = new PerformanceObserver((l) => (long += l.getEntries().length));
      obs.observe({ entryTypes: ['longtask'] });
      let last = performance.now();
      let running = true;
      const tick = (t) => {
        frames.push(t - last);
        last = t;
        if (running) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      const start = performance.now();
      let loaded = 0;
      for (let i = 0; i < 20; i++) {
        loaded += await s.view.loadOlder(100);
        s.view.latest(200 + loaded);
        await new Promise((r) => requestAnimationFrame(r));
      }
      const ms = performance.now() - start;
      running = false;
      obs.disconnect();
      const sorted = frames.slice(1).sort((a, b) => a - b);
      return { loaded, ms, p95: sorted[Math.floor(sorted.length * 0.95)] || 0, max: sorted[sorted.length - 1] || 0, long, oldestSeq: s.view.messages[0] && s.view.messages[0].seq };
    })()`)) as { loaded: number; ms: number; p95: number; max: number; long: number; oldestSeq: number };
    const sends: number[] = [];
    for (let i = 0; i < 10; i++) sends.push(await page!.evaluate((t) => (window as any).skein.sendAndTimeRender(t), `bench send ${i}`));
    console.log(`windowed-browser: a thread of ${MESSAGES + 20} messages (generations of 1,000), SDK test page in Chromium`);
    console.log(`  cold (empty browser): open() → first paint ${cold.paint.toFixed(0)} ms (${cold.shown} messages), → able to send/receive ${cold.live.toFixed(0)} ms`);
    console.log(`  warm (median of ${WARM_RUNS}):   open() → first paint ${median(warm.map((w) => w.paint)).toFixed(0)} ms (${warm[0]!.shown} messages), → able to send/receive ${median(warm.map((w) => w.live)).toFixed(0)} ms (runs: ${warm.map((w) => `${w.paint.toFixed(0)}/${w.live.toFixed(0)}`).join(', ')}); script start → first paint ${median(warm.map((w) => w.scriptPaint)).toFixed(0)} ms, navigation start → first paint ${median(warm.map((w) => w.navPaint)).toFixed(0)} ms`);
    console.log(`  scroll back: ${paging.loaded} older messages in 20 pages in ${paging.ms.toFixed(0)} ms (oldest shown seq ${paging.oldestSeq}); frame interval p95 ${paging.p95.toFixed(1)} ms, max ${paging.max.toFixed(1)} ms; long tasks ${paging.long}`);
    console.log(`  send() → rendered while paged back: median ${median(sends).toFixed(1)} ms`);
    const app = await appScrollBack(browser, relay, id);
    console.log(`  web app: cold open (new browser context) → newest message shown ${app.openMs} ms; warm (median of ${WARM_RUNS}): the thread opened → newest message row ${median(app.warm.map((w) => w.open))} ms, app start → row ${median(app.warm.map((w) => w.start))} ms, navigation start → row ${median(app.warm.map((w) => w.nav))} ms (runs, open/start/nav: ${app.warm.map((w) => `${w.open}/${w.start}/${w.nav}`).join(', ')})`);
    console.log(`  web app: scrolled back ${app.pages} pages (${app.messages} messages, oldest shown #${app.oldest}) in ${app.ms} ms; frame interval p50 ${app.p50} ms, p95 ${app.p95} ms, max ${app.max} ms; long tasks ${app.long.length} (${app.long.join(', ')} ms)`);
  } finally {
    await browser.close();
    await relay.stop();
  }
}

/** The web app's timeline, scrolled back page by page (the user's view of paging). */
async function appScrollBack(browser: Browser, relay: RelayProcess, id: string) {
  const page = await signInApp(browser, relay, 'alice');
  // Navigation start → the newest message's row in the DOM, on every load of this context.
  await page.context().addInitScript(`(() => {
    new MutationObserver((_, obs) => {
      for (const t of document.querySelectorAll('li.msg .text')) {
        if (t.textContent.includes('live message 19')) { window.benchNewestShown = performance.now(); obs.disconnect(); return; }
      }
    }).observe(document, { childList: true, subtree: true });
  })()`);
  const url = `${relay.url}/#/t/${id}`;
  const t0 = Date.now();
  await page.goto(url);
  await page.locator('li.msg', { hasText: 'live message 19' }).waitFor({ timeout: 60_000 });
  const openMs = Date.now() - t0;
  // Warm: the app's IndexedDB holds the thread now; each open is a real load (not a hash change).
  await page.waitForTimeout(1500); // let the first open store its window and history
  const warm: Array<{ nav: number; start: number; open: number }> = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForFunction(() => (window as any).benchNewestShown !== undefined, undefined, { timeout: 60_000 });
    warm.push(
      // A string: tsx would wrap a named inner function in a helper the page lacks.
      (await page.evaluate(`(() => {
        const at = (name) => performance.getEntriesByName(name)[0]?.startTime ?? NaN;
        const shown = window.benchNewestShown;
        return { nav: Math.round(shown), start: Math.round(shown - at('skein-app:start')), open: Math.round(shown - at('skein-app:open')) };
      })()`)) as { nav: number; start: number; open: number },
    );
  }
  await page.evaluate(`(() => {
    const w = window;
    w.frames_ = [];
    w.long_ = [];
    new PerformanceObserver((l) => l.getEntries().forEach((e) => w.long_.push(Math.round(e.duration)))).observe({ type: 'longtask' });
    let last = performance.now();
    const tick = (t) => { w.frames_.push(t - last); last = t; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  })()`);
  // Bulk-loaded texts carry their number: the first row's is the oldest shown.
  const oldestShown = async () => Number(/message number (\d+)/.exec((await page.locator('li.msg .text').first().textContent()) ?? '')?.[1] ?? NaN);
  // The newest rows are the live messages; the sealed ones above them come in a moment later.
  await page.waitForFunction(() => /message number \d+/.test(document.querySelector('li.msg .text')?.textContent ?? ''), undefined, { timeout: 60_000 });
  const start = Date.now();
  let pages = 0;
  const from = await oldestShown();
  let oldest = from;
  for (; pages < 30; pages++) {
    await page.locator('#timeline').evaluate((el) => (el.scrollTop = 0));
    await page
      .waitForFunction(
        (below) => Number(/message number (\d+)/.exec(document.querySelector('li.msg .text')?.textContent ?? '')?.[1]) < below,
        oldest,
        { timeout: 60_000, polling: 'raf' },
      )
      .catch(async (err) => {
        const at = await page.evaluate(() => {
          const tl = document.getElementById('timeline')!;
          const rows = tl.querySelectorAll('li.msg .text');
          return { scrollTop: tl.scrollTop, rows: rows.length, first: rows[0]?.textContent?.slice(0, 40), last: rows[rows.length - 1]?.textContent?.slice(0, 40) };
        });
        throw new Error(`app paging stalled after ${pages} pages below #${oldest}: ${JSON.stringify(at)} (${err})`);
      });
    oldest = await oldestShown();
  }
  const ms = Date.now() - start;
  const frames = ((await page.evaluate('window.frames_')) as number[]).slice(1).sort((a, b) => a - b);
  const q = (p: number) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))]!.toFixed(1);
  const long = (await page.evaluate('window.long_')) as number[];
  await page.context().close();
  return { openMs, warm, pages, messages: from - oldest, oldest, ms, p50: q(0.5), p95: q(0.95), max: q(1), long };
}
