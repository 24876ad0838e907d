/**
 * SDK in Chromium against a real relay: for threads of 10k and 100k messages,
 * - cold open: the page opens a thread it has never seen (everything from the relay)
 *   until all messages are in the view;
 * - warm open(): script start → first render of the cached thread (the stored window of
 *   the newest messages), and → the full local copy loaded from IndexedDB (median of 3);
 * - send() → the message rendered in the DOM (median / p95 of 30 sends).
 *
 *   BENCH_SDK_SIZES=10000,100000 npm run bench -- sdk
 */
import type { Page } from 'playwright-core';
import { buildTestPage, launchChromium, openThreadPage } from '../helpers/browser.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const SIZES = (process.env.BENCH_SDK_SIZES ?? '10000,100000').split(',').map(Number);
const BATCH = 2000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

export async function run(): Promise<void> {
  const staticDir = await buildTestPage();
  // The filler appends thousands of messages per frame: lift the per-connection rate limits.
  const relay = await startRelay({
    SKEIN_LOG_LEVEL: 'info',
    SKEIN_STATIC_DIR: staticDir,
    SKEIN_MAX_MESSAGES_PER_SECOND: '1000000',
    SKEIN_MESSAGE_BURST: '1000000',
    SKEIN_MAX_UPDATES_PER_SECOND: '100000',
  });
  const browser = await launchChromium();
  try {
    const alice = await relay.token('alice');
    const bob = await relay.token('bob');
    for (const n of SIZES) {
      const { id } = await relay.createThread(alice, ['bob'], `bench ${n}`);
      // Fill the thread as another member would, in frames well under the relay's limit.
      const filler = connectClient(relay.wsUrl, id, bob, 'bob');
      await synced(filler);
      const t0 = performance.now();
      let last = '';
      for (let i = 0; i < n; i += BATCH) {
        filler.doc.transact(() => {
          for (let j = i; j < Math.min(n, i + BATCH); j++) last = filler.send(`message number ${j} of the benchmark thread`).id;
        });
        const want = last;
        await filler.until(() => filler.roots.canon.has(want), `canon for batch ${i}`, 120_000);
      }
      console.log(`thread of ${n} messages filled and sequenced by the relay in ${ms(performance.now() - t0)}`);
      filler.destroy();

      const ctx = await browser.newContext();
      const page = await openThreadPage(ctx, relay.url, 'alice', id);
      // (No named inner functions: tsx would wrap them in a helper the page does not have.)
      const cold = await page.evaluate(async (n) => {
        const s = (window as any).skein;
        await new Promise<void>((resolve) => {
          if (s.view.messages.length >= n) return resolve();
          s.view.subscribe(() => {
            if (s.view.messages.length >= n) resolve();
          });
        });
        // Measured from navigation start: page load, connect, download, apply, render.
        return performance.now();
      }, n);
      console.log(`n=${n}: cold open (empty cache, all from relay) until ${n} messages in the view: ${ms(cold)}`);
      await page.waitForFunction(() => (window as any).skein.view.syncInfo.state === 'SYNCED', undefined, { polling: 100, timeout: 120_000 });
      await page.close();

      const warm: number[] = [];
      const phases: Array<Record<string, number>> = [];
      let p: Page | null = null;
      for (let i = 0; i < 3; i++) {
        p = await openThreadPage(ctx, relay.url, 'alice', id);
        const r = await p.evaluate(() => ({
          first: (window as any).skein.firstRenderMs,
          phases: (window as any).skein.phases,
          len: (window as any).skein.view.messages.length,
        }));
        phases.push(r.phases);
        if (r.len < n) throw new Error(`warm open rendered ${r.len} of ${n} messages`);
        warm.push(r.first);
        if (i < 2) await p.close();
      }
      const loaded = phases.map((p) => p.loaded!);
      console.log(`n=${n}: warm open() → first render (cached window of newest messages): median ${ms(median(warm))} (runs: ${warm.map((x) => x.toFixed(0)).join(', ')} ms)`);
      console.log(`n=${n}: warm open() → full local copy loaded from IndexedDB: median ${ms(median(loaded))} (runs: ${loaded.map((x) => x.toFixed(0)).join(', ')} ms)`);
      console.log(`n=${n}:   phases of each run (ms from script start): ${phases.map((p) => JSON.stringify(p, (_k, v) => (typeof v === 'number' ? Math.round(v) : v))).join(' ')}`);

      const sends: number[] = [];
      for (let i = 0; i < 30; i++) sends.push(await p!.evaluate((t) => (window as any).skein.sendAndTimeRender(t), `bench send ${i}`));
      console.log(`n=${n}: send() → rendered: median ${ms(median(sends))}, p95 ${ms(pct(sends, 95))}`);
      await ctx.close();
    }
  } finally {
    await browser.close();
    await relay.stop();
  }
}
