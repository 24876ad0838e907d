/**
 * Streamed replies in the web app: real Chromium, a real relay running the demo bot. A reply
 * grows in a second tab and on a second device, then becomes a message; a stream whose tab
 * closes mid-way ends "interrupted" on the other device.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;

const app = appFixture({ SKEIN_DEMO_BOT: '1', SKEIN_STREAM_IDLE_MS: '1500' }, { ready: (relay) => relay.waitForLog((l) => l.event === 'demo_bot_started') });

/** Texts a page showed for streaming rows, in order (recorded in the page, so nothing is missed). */
async function recordStreams(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as any).streamTexts = seen;
    new MutationObserver(() => {
      for (const li of Array.from(document.querySelectorAll('#timeline li.stream[data-status="streaming"] .text'))) {
        const t = li.textContent ?? '';
        if (t && seen[seen.length - 1] !== t) seen.push(t);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

async function openThread(page: Page, id: string): Promise<void> {
  await page.evaluate((h) => (location.hash = h), `#/t/${id}`);
  await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
}

describe('streamed replies in the app', () => {
  it('the bot’s reply grows in another tab and on another device, then becomes a message', async () => {
    const alice = await signInApp(app.browser, app.relay, 'alice');
    const bob = await signInApp(app.browser, app.relay, 'bob');
    const { id } = await app.relay.createThread(await app.relay.token('alice'), ['bob', 'skein-bot'], 'ask the bot');
    await openThread(alice, id);
    const aliceTab2 = await alice.context().newPage();
    await aliceTab2.goto(`${app.relay.url}/#/t/${id}`);
    await aliceTab2.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    await openThread(bob, id);
    await recordStreams(aliceTab2);
    await recordStreams(bob);

    await alice.locator('#compose').fill('Tell me about streaming');
    await alice.locator('#compose').press('Enter');
    const reply = (p: Page) => p.locator('#timeline li.msg', { hasText: 'I am skein-bot' });
    for (const p of [aliceTab2, bob]) {
      await reply(p).waitFor({ timeout: UI_TIMEOUT });
      await expect.poll(() => reply(p).getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('sent');
      const texts: string[] = await p.evaluate(() => (window as any).streamTexts);
      // It was seen growing (several partial texts, each a prefix of the next) before it landed.
      expect(texts.length).toBeGreaterThan(3);
      for (let i = 1; i < texts.length; i++) expect(texts[i]!.startsWith(texts[i - 1]!)).toBe(true);
      expect(await p.locator('#timeline li.stream').count()).toBe(0);
    }
    await alice.context().close();
    await bob.context().close();
  });

  it('a stream whose tab closes mid-way ends “interrupted” on the other device, with its text so far', async () => {
    const alice = await signInApp(app.browser, app.relay, 'alice');
    const bob = await signInApp(app.browser, app.relay, 'bob');
    const { id } = await app.relay.createThread(await app.relay.token('alice'), ['bob'], 'interrupted');
    await openThread(alice, id);
    await openThread(bob, id);
    // A page's own code streaming (as an AI integration would), through the SDK the app uses.
    await alice.evaluate(async () => {
      const view = (window as any).skeinApp.view;
      await view.ready;
      const s = view.startStream();
      s.append('Thinking about it');
    });
    const row = bob.locator('#timeline li.stream');
    await expect.poll(() => row.locator('.text').textContent(), { timeout: UI_TIMEOUT }).toBe('Thinking about it');
    expect(await row.getAttribute('data-status')).toBe('streaming');
    await alice.close(); // the only tab of alice: the author is gone
    await expect.poll(() => row.getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('interrupted');
    expect(await row.locator('.status').innerText()).toContain('Interrupted');
    expect(await row.locator('.text').textContent()).toBe('Thinking about it');
    expect(await bob.locator('#timeline li.msg').count()).toBe(0);
    await bob.context().close();
  });
});
