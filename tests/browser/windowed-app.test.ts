/**
 * The web app on a thread of several generations (the relay rolls its live document every
 * 100 messages), in Chromium against a real relay: the timeline opens on the newest
 * messages, scrolling up pages sealed history in from the relay (and IndexedDB) with a
 * bounded DOM, down to the first message, and a message sent while paged back is delivered
 * once.
 */
import { ulid } from 'ulid';
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { MAX_ROWS } from '../../client/app/timeline-view.ts';
/**
 * Elements a row may take, all its parts counted (author, time, text, status, and since issue
 * 30 its actions: reactions, edit, delete; the emoji picker is built only when opened). The
 * bound is on the window, whatever the thread's size.
 */
const ELEMENTS_PER_ROW = 25;
import { threadRoots } from '../../shared/schema.ts';
import { appFixture, signInApp } from '../helpers/app-browser.ts';
import { connectClient, waitUntil } from '../helpers/y-client.ts';
import { join } from 'node:path';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { bulkLoad } from '../bench/windowed/bulk-load.ts';

const UI_TIMEOUT = 30_000;
const GENERATION = 100;
const BATCH = 130;
const BATCHES = 4;
const TOTAL = BATCH * BATCHES;

const app = appFixture({ SKEIN_GENERATION_MESSAGES: String(GENERATION), SKEIN_ROLL_MIN_INTERVAL_MS: '0' });

/**
 * A thread of `BATCHES` generations: each batch is one stock client's offline backlog sent
 * to the thread's current live document; the relay sequences it, then rolls.
 */
async function generationsThread(author: string): Promise<string> {
  const token = await app.relay.token(author);
  const { id } = await app.relay.createThread(token, [], 'generations');
  const t0 = Date.now() - TOTAL * 1000;
  for (let b = 0; b < BATCHES; b++) {
    const row = await app.relay.api('GET', `/v1/threads/${id}`, token);
    expect(row.body.generation).toBe(b);
    const doc = new Y.Doc();
    const messages = threadRoots(doc).messages;
    doc.transact(() => {
      for (let j = b * BATCH; j < (b + 1) * BATCH; j++) {
        messages.insert(messages.length, [{ id: ulid(), authorId: author, text: `message ${j + 1} of ${TOTAL}`, clientSentAt: t0 + j * 1000 }]);
      }
    });
    const c = connectClient(app.relay.wsUrl, row.body.liveDoc, token, author, doc);
    try {
      await waitUntil(doc, () => threadRoots(doc).canon.size >= BATCH, `batch ${b} sequenced`, 60_000);
    } finally {
      c.destroy();
    }
    // The roll follows the commit: wait for it before writing the next batch.
    for (let i = 0; i < 100; i++) {
      if ((await app.relay.api('GET', `/v1/threads/${id}`, token)).body.generation === b + 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return id;
}

describe('web app on a thread of several generations', () => {
  it('scrolls back through every generation with a bounded DOM, and a message sent while paging arrives once', async () => {
    const id = await generationsThread('wren');
    const page = await signInApp(app.browser, app.relay, 'wren');
    const openedAt = Date.now();
    await page.goto(`${app.relay.url}/#/t/${id}`);
    await page.locator('li.msg', { hasText: `message ${TOTAL} of ${TOTAL}` }).waitFor({ timeout: UI_TIMEOUT });
    const coldOpenMs = Date.now() - openedAt;
    // Frame times while scrolling back (a figure for the report, not a pass/fail bar).
    await page.evaluate(() => {
      const w = window as unknown as { frames_: number[]; long_: number[] };
      w.frames_ = [];
      w.long_ = [];
      new PerformanceObserver((l) => l.getEntries().forEach((e) => w.long_.push(Math.round(e.duration)))).observe({ type: 'longtask' });
      let last = performance.now();
      const tick = (t: number) => {
        w.frames_.push(t - last);
        last = t;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const rows = () => page.locator('li.msg').count();
    const firstShown = () => page.locator('li.msg .text').first().textContent();
    const n = (t: string | null) => Number(/message (\d+)/.exec(t ?? '')?.[1]);
    let sent = false;
    let first = n(await firstShown());
    for (let i = 0; i < 80 && first > 1; i++) {
      await page.locator('#timeline').evaluate((el) => (el.scrollTop = 0));
      await expect.poll(async () => n(await firstShown()), { timeout: UI_TIMEOUT }).toBeLessThan(first);
      first = n(await firstShown());
      expect(await rows()).toBeLessThanOrEqual(MAX_ROWS);
      if (!sent && first < TOTAL / 2) {
        // Half way back, in a sealed generation: send.
        await page.locator('#compose').fill('sent while paging');
        await page.locator('#compose').press('Enter');
        sent = true;
      }
    }
    expect(first).toBe(1);
    expect(sent).toBe(true);
    const frames = (await page.evaluate(() => (window as unknown as { frames_: number[] }).frames_)).sort((a, b) => a - b);
    const q = (p: number) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))]!.toFixed(1);
    const long = await page.evaluate(() => (window as unknown as { long_: number[] }).long_);
    console.log(`windowed app: cold open to newest message ${coldOpenMs} ms; scroll-back frames n=${frames.length} p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms; long tasks ${JSON.stringify(long)}`);
    expect(await page.evaluate(() => document.querySelectorAll('*').length)).toBeLessThan(MAX_ROWS * ELEMENTS_PER_ROW);
    // Back down: the sent message is there once, delivered.
    const mine = page.locator('li.msg', { hasText: 'sent while paging' });
    for (let i = 0; i < 80 && (await mine.count()) === 0; i++) {
      await page.locator('#timeline').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await page.waitForTimeout(50);
    }
    await page.locator('li.msg[data-status="sent"]', { hasText: 'sent while paging' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await mine.count()).toBe(1);
    const history = await app.relay.api('GET', `/v1/threads/${id}/messages?beforeSeq=${TOTAL + 2}&limit=2`, await app.relay.token('wren'));
    expect(history.body.messages.map((m: { text: string; seq: number }) => [m.seq, m.text])).toEqual([
      [TOTAL, `message ${TOTAL} of ${TOTAL}`],
      [TOTAL + 1, 'sent while paging'],
    ]);
    await page.context().close();
  });

  it('after paging back once, a reload with the relay down scrolls back to the first message from IndexedDB', async () => {
    const id = await generationsThread('yara');
    const page = await signInApp(app.browser, app.relay, 'yara');
    await page.goto(`${app.relay.url}/#/t/${id}`);
    await page.locator('li.msg', { hasText: `message ${TOTAL} of ${TOTAL}` }).waitFor({ timeout: UI_TIMEOUT });
    const firstShown = () => page.locator('li.msg .text').first().textContent();
    const n = (t: string | null) => Number(/message (\d+)/.exec(t ?? '')?.[1]);
    const scrollBackToFirst = async () => {
      let first = n(await firstShown());
      for (let i = 0; i < 80 && first > 1; i++) {
        await page.locator('#timeline').evaluate((el) => (el.scrollTop = 0));
        await expect.poll(async () => n(await firstShown()), { timeout: UI_TIMEOUT }).toBeLessThan(first);
        first = n(await firstShown());
        expect(await page.locator('li.msg').count()).toBeLessThanOrEqual(MAX_ROWS);
      }
      return first;
    };
    // Online: every sealed page comes from the relay and is kept in the history cache.
    expect(await scrollBackToFirst()).toBe(1);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: UI_TIMEOUT });
    await app.relay.stop();
    try {
      await page.reload();
      // The timeline opens on the newest message, from IndexedDB.
      await page.locator('li.msg', { hasText: `message ${TOTAL} of ${TOTAL}` }).waitFor({ timeout: UI_TIMEOUT });
      // Offline, only the cache can answer: every message back to the first, in order.
      expect(await scrollBackToFirst()).toBe(1);
      const shown = (await page.locator('li.msg .text').allTextContents()).map(n);
      expect(shown).toEqual(Array.from({ length: shown.length }, (_, i) => i + 1));
    } finally {
      await app.relay.start();
    }
    await page.context().close();
  }, 180_000);

  it('opens a 50,000-message thread on its newest messages, pages back with a bounded DOM, and a message sent while paged back arrives once', async () => {
    const BIG = 50_000;
    const token = await app.relay.token('ines');
    const { id } = await app.relay.createThread(token, [], 'fifty thousand');
    // Written through the store's commit path (what rolling leaves behind), beside the running relay.
    const store = new SqliteStore(join(app.relay.dataDir, 'skein.sqlite'), { synchronous: 'NORMAL' });
    await bulkLoad(store, id, { messages: BIG, perGeneration: GENERATION, authors: ['ines'], text: (i) => `message ${i + 1} of ${BIG}` });
    await store.close();
    const page = await signInApp(app.browser, app.relay, 'ines');
    await page.goto(`${app.relay.url}/#/t/${id}`);
    await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    const firstShown = () => page.locator('li.msg .text').first().textContent();
    const n = (t: string | null) => Number(/message (\d+)/.exec(t ?? '')?.[1]);
    // The newest sealed messages are shown (the live document is empty after the last roll).
    await page.locator('li.msg', { hasText: `message ${BIG} of ${BIG}` }).waitFor({ timeout: UI_TIMEOUT });
    let first = n(await firstShown());
    for (let i = 0; i < 10; i++) {
      await page.locator('#timeline').evaluate((el) => (el.scrollTop = 0));
      await expect.poll(async () => n(await firstShown()), { timeout: UI_TIMEOUT }).toBeLessThan(first);
      first = n(await firstShown());
      expect(await page.locator('li.msg').count()).toBeLessThanOrEqual(MAX_ROWS);
      if (i === 2) {
        await page.locator('#compose').fill('sent while paging fifty thousand');
        await page.locator('#compose').press('Enter');
      }
    }
    expect(first).toBeLessThan(BIG - 300);
    expect(await page.evaluate(() => document.querySelectorAll('*').length)).toBeLessThan(MAX_ROWS * ELEMENTS_PER_ROW);
    const ines = await app.relay.token('ines');
    let last: Array<{ seq: number; text: string }> = [];
    await expect
      .poll(async () => {
        last = (await app.relay.api('GET', `/v1/threads/${id}/messages?beforeSeq=${BIG + 5}&limit=3`, ines)).body.messages;
        return last[last.length - 1]?.seq;
      }, { timeout: UI_TIMEOUT })
      .toBe(BIG + 1);
    expect(last.map((m) => [m.seq, m.text])).toEqual([
      [BIG - 1, `message ${BIG - 1} of ${BIG}`],
      [BIG, `message ${BIG} of ${BIG}`],
      [BIG + 1, 'sent while paging fifty thousand'],
    ]);
    await page.context().close();
  }, 180_000);
});
