/**
 * The web app in Chromium against a real relay, for threads of 2k and 50k messages: time
 * from navigation to the first message row, the longest main-thread task, and the DOM size
 * once settled — cold (first open: history from the relay) and warm (reload: IndexedDB and
 * the cached window).
 *
 *   BENCH_APP_SIZES=2000,50000 npm run bench -- app
 *   BENCH_APP_STATIC=/path/to/built/app npm run bench -- app   (measure another build)
 */
import type { Page } from 'playwright-core';
import { appRelay, filledThread, signInApp } from '../helpers/app-browser.ts';
import { launchChromium } from '../helpers/browser.ts';
import { startRelay } from '../helpers/relay-process.ts';

const SIZES = (process.env.BENCH_APP_SIZES ?? '2000,50000').split(',').map(Number);

interface Load {
  firstRowMs: number;
  longestTaskMs: number;
  elements: number;
  rows: number;
}

/** Loads `url` and measures until the row with `newest` text is on screen. */
async function measure(page: Page, url: string, newest: string): Promise<Load> {
  await page.goto('about:blank'); // a real load, not a same-document hash change
  await page.goto(url);
  await page.locator('li.msg', { hasText: newest }).waitFor({ timeout: 300_000 });
  await page.waitForTimeout(500); // let the page settle (full local load, last renders)
  return page.evaluate(() => {
    const w = window as any;
    return {
      firstRowMs: w.benchFirstRow ?? NaN,
      longestTaskMs: Math.max(0, ...(w.benchLongTasks as number[])),
      elements: document.querySelectorAll('*').length,
      rows: document.querySelectorAll('li.msg').length,
    };
  });
}

export async function run(): Promise<void> {
  const staticDir = process.env.BENCH_APP_STATIC;
  const relay = staticDir ? await startRelay({ SKEIN_STATIC_DIR: staticDir, SKEIN_LOG_LEVEL: 'info', SKEIN_BACKLOG_BUDGET: '10000000' }) : await appRelay({ SKEIN_LOG_LEVEL: 'info', SKEIN_BACKLOG_BUDGET: '10000000' });
  const browser = await launchChromium();
  try {
    for (const n of SIZES) {
      const t0 = performance.now();
      const id = await filledThread(relay, 'bench', [], n, `bench ${n}`);
      console.log(`app: thread of ${n} messages sequenced in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const page = await signInApp(browser, relay, 'bench');
      await page.context().addInitScript(() => {
        const w = window as any;
        w.benchLongTasks = [];
        new PerformanceObserver((l) => l.getEntries().forEach((e) => w.benchLongTasks.push(e.duration))).observe({ type: 'longtask', buffered: true });
        new MutationObserver(() => {
          if (w.benchFirstRow === undefined && document.querySelector('li.msg')) w.benchFirstRow = performance.now();
        }).observe(document, { childList: true, subtree: true });
      });
      const url = `${relay.url}/#/t/${id}`;
      const newest = `message ${n} of ${n}`;
      const cold = await measure(page, url, newest);
      const warm: Load[] = [];
      for (let i = 0; i < 3; i++) warm.push(await measure(page, url, newest));
      const med = (f: (l: Load) => number) => [...warm.map(f)].sort((a, b) => a - b)[1]!;
      console.log(`  ${n} messages, cold: first row ${cold.firstRowMs.toFixed(0)} ms, longest task ${cold.longestTaskMs.toFixed(0)} ms, ${cold.elements} elements (${cold.rows} message rows)`);
      console.log(`  ${n} messages, warm (median of 3 reloads): first row ${med((l) => l.firstRowMs).toFixed(0)} ms, longest task ${med((l) => l.longestTaskMs).toFixed(0)} ms, ${med((l) => l.elements)} elements (${med((l) => l.rows)} message rows)`);
      await page.context().close();
    }
  } finally {
    await browser.close();
    await relay.stop();
  }
}
