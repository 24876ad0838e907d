/**
 * Streamed replies in Chromium against a real relay: one tab streams 100 chunks at 20 per
 * second (`view.startStream()`); the delay until each chunk is in the document of
 *   - a second tab of the same browser (BroadcastChannel path), and
 *   - another browser context, i.e. another device (through the relay),
 * p50 / p99 (clock: Date.now() of this machine, shared by all pages). Targets from issue 15:
 * < 50 ms in another tab, < 200 ms on another device.
 *
 *   npm run bench -- streams
 */
import type { Page } from 'playwright-core';
import { buildTestPage, launchChromium, openThreadPage } from '../helpers/browser.ts';
import { startRelay } from '../helpers/relay-process.ts';

const CHUNKS = 100;
const RATE = 20;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Starts recording, in `page`, when each `|<ms>` marker of any stream arrived. */
async function watch(page: Page): Promise<void> {
  await page.evaluate(() => {
    const delays: number[] = [];
    (window as any).streamDelays = delays;
    const streams = (window as any).skein.view.roots.streams;
    let seen = 0;
    streams.observe(() => {
      const now = Date.now();
      for (const e of streams.values()) {
        const marks = String(e.text).split('|').slice(1);
        for (let i = seen; i < marks.length; i++) delays.push(now - Number(marks[i]));
        seen = Math.max(seen, marks.length);
      }
    });
  });
}

export async function run(): Promise<void> {
  const relay = await startRelay({ SKEIN_LOG_LEVEL: 'info', SKEIN_STATIC_DIR: await buildTestPage(), SKEIN_MAX_STREAM_BYTES: '100000' });
  const browser = await launchChromium();
  try {
    const alice = await relay.token('alice');
    const { id } = await relay.createThread(alice, ['bob'], 'stream bench');
    const ctxA = await browser.newContext();
    const author = await openThreadPage(ctxA, relay.url, 'alice', id);
    const tab = await openThreadPage(ctxA, relay.url, 'alice', id);
    const device = await openThreadPage(await browser.newContext(), relay.url, 'bob', id);
    await Promise.all([watch(tab), watch(device)]);
    await author.evaluate(
      async ([n, rate]) => {
        const s = (window as any).skein.view.startStream();
        for (let i = 0; i < n; i++) {
          s.append(`chunk${i}|${Date.now()}`);
          await new Promise((r) => setTimeout(r, 1000 / rate));
        }
        await s.finish();
      },
      [CHUNKS, RATE] as const,
    );
    for (const [name, page, target] of [['another tab', tab, 50], ['another device', device, 200]] as const) {
      await page.waitForFunction((n) => (window as any).streamDelays.length >= n, CHUNKS, { timeout: 30_000 });
      const d: number[] = await page.evaluate(() => (window as any).streamDelays);
      console.log(`stream chunk → in ${name}: p50 ${pct(d, 50)} ms, p99 ${pct(d, 99)} ms over ${d.length} chunks (target < ${target} ms)`);
    }
  } finally {
    await browser.close();
    await relay.stop();
  }
}
