/**
 * Windowed threads in real Chromium: two tabs of one user (one holds the relay connection,
 * the other shares through the BroadcastChannel) on a thread the relay rolls every 5
 * messages. Both tabs follow each generation, what either tab sends is delivered once,
 * and both show the same messages with gap-free seqs.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPage, launchChromium, openThreadPage } from '../helpers/browser.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

let relay: RelayProcess;
let browser: Browser;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  const staticDir = await buildTestPage();
  [relay, browser] = await Promise.all([startRelay({ SKEIN_STATIC_DIR: staticDir, SKEIN_GENERATION_MESSAGES: '5', SKEIN_ROLL_MIN_INTERVAL_MS: '0' }), launchChromium()]);
  for (const u of ['alice', 'bob']) tokens[u] = await relay.token(u);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});

interface Row {
  id: string;
  seq?: number;
}
const rows = (page: Page): Promise<Row[]> => page.evaluate(() => (window as any).skein.view.messages.map((m: any) => ({ id: m.id, seq: m.seq })));
const send = (page: Page, text: string): Promise<string> => page.evaluate((t) => (window as any).skein.view.send(t), text);
const generation = (page: Page): Promise<number> => page.evaluate(() => (window as any).skein.view.generation.generation);

/** Waits until `page` shows exactly `n` messages, all canonical, seqs 1..n. */
async function allCanonical(page: Page, n: number): Promise<void> {
  try {
    await page.waitForFunction(
      (n) => {
        const m = (window as any).skein.view.messages;
        return m.length === n && m.every((x: any, i: number) => x.seq === i + 1);
      },
      n,
      { polling: 100, timeout: 30_000 },
    );
  } catch (err) {
    const state = await page.evaluate(() => {
      const v = (window as any).skein.view;
      return { isLeader: v.isLeader, generation: v.generation, sync: v.syncInfo, seqs: v.messages.map((m: any) => m.seq ?? null) };
    });
    throw new Error(`${String(err)}\npage state: ${JSON.stringify(state)}`);
  }
}

describe('SDK generations in Chromium', () => {
  it('two tabs follow the thread through rolls; each message once, seqs gap-free in both', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const ctx = await browser.newContext();
    const tab1 = await openThreadPage(ctx, relay.url, 'alice', id);
    const tab2 = await openThreadPage(ctx, relay.url, 'alice', id);
    const leaders = await Promise.all([tab1, tab2].map((p) => p.evaluate(() => (window as any).skein.view.isLeader)));
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const follower = leaders[0] ? tab2 : tab1;
    const leader = leaders[0] ? tab1 : tab2;

    await send(follower, 'f1');
    await send(leader, 'l1');
    await allCanonical(follower, 2);
    // Bob (a stock client on the live document) writes enough for a roll.
    const row = await relay.api('GET', `/v1/threads/${id}`, tokens.bob);
    const bob = connectClient(relay.wsUrl, row.body.liveDoc, tokens.bob!, 'bob');
    await synced(bob);
    const sealed = bob.nextClose(20_000);
    // One update: a stock client does not rebase what reaches a sealed generation.
    bob.doc.transact(() => {
      for (let i = 0; i < 4; i++) bob.send(`b${i}`);
    });
    expect((await sealed).code).toBe(4410);
    bob.destroy();
    await allCanonical(leader, 6);
    await allCanonical(follower, 6);
    // A tab may show the sealed messages (from the other tab) before it has moved: await the move.
    await expect.poll(() => generation(leader), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => generation(follower), { timeout: 30_000 }).toBe(1);

    // After the roll both tabs write into generation 1, through the leader's connection.
    await send(follower, 'f2');
    await send(leader, 'l2');
    await send(follower, 'f3');
    await allCanonical(leader, 9);
    await allCanonical(follower, 9);
    expect(await rows(leader)).toEqual(await rows(follower));
    const all = await relay.api('GET', `/v1/threads/${id}/messages?afterSeq=0&limit=100`, tokens.bob);
    expect(all.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(all.body.messages.map((m: { id: string }) => m.id)).toEqual((await rows(leader)).map((r) => r.id));
    await ctx.close();
  });
});
