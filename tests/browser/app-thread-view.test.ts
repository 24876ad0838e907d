/**
 * What the thread view shows about people (issue 31): delivery statuses only under your own
 * messages, and a streamed reply (the demo bot) that grows right under the question — where
 * it lands — with its author shown as present while it writes. One user on a desktop window,
 * the other on a phone.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;
const DESKTOP = { width: 1200, height: 760 };
const PHONE = { width: 390, height: 844 };

const app = appFixture({ SKEIN_DEMO_BOT: '1' }, { ready: (relay) => relay.waitForLog((l) => l.event === 'demo_bot_started') });

const msg = (page: Page, text: string) => page.locator('#timeline li.msg', { hasText: text });

async function open(page: Page, id: string): Promise<void> {
  await page.evaluate((h) => (location.hash = h), `#/t/${id}`);
  await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#compose').fill(text);
  await page.locator('#compose').press('Enter');
  await expect.poll(() => msg(page, text).getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('sent');
}

describe('people in the thread view', () => {
  it('a status shows under your own messages only', async () => {
    const alice = await signInApp(app.browser, app.relay, 'alice', DESKTOP);
    const bob = await signInApp(app.browser, app.relay, 'bob', PHONE);
    const { id } = await app.relay.createThread(await app.relay.token('alice'), ['bob'], 'statuses');
    await open(alice, id);
    await open(bob, id);
    await send(alice, 'from alice');
    await send(bob, 'from bob');
    for (const [page, mine, theirs] of [
      [alice, 'from alice', 'from bob'],
      [bob, 'from bob', 'from alice'],
    ] as const) {
      await msg(page, theirs).waitFor({ timeout: UI_TIMEOUT });
      await expect.poll(() => msg(page, mine).locator('.status').innerText(), { timeout: UI_TIMEOUT }).toContain('Sent');
      await expect.poll(() => msg(page, theirs).getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('sent');
      expect(await msg(page, theirs).locator('.status').count()).toBe(0);
      expect(await msg(page, theirs).innerText()).not.toContain('Sent');
    }
    await alice.context().close();
    await bob.context().close();
  });

  for (const [name, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    it(`${name}: the bot’s reply grows right under the question, lands in that place, and the bot is present while it writes`, async () => {
      const user = `asker-${name}`;
      const page = await signInApp(app.browser, app.relay, user, viewport);
      const { id } = await app.relay.createThread(await app.relay.token(user), ['skein-bot'], `ask ${name}`);
      await open(page, id);
      await expect.poll(() => page.locator('.member[data-user="skein-bot"]').getAttribute('class'), { timeout: UI_TIMEOUT }).toContain('absent');
      // Record, in the page, where the streaming row was and whether the bot showed as present.
      await page.evaluate(() => {
        const w = window as any;
        w.seen = { streamTops: [] as number[], afterQuestion: [] as boolean[], botPresent: [] as boolean[] };
        new MutationObserver(() => {
          const row = document.querySelector<HTMLElement>('#timeline li.stream[data-status="streaming"]');
          if (!row) return;
          w.seen.streamTops.push(row.getBoundingClientRect().top);
          const prev = row.previousElementSibling as HTMLElement | null;
          w.seen.afterQuestion.push(!!prev?.matches('li.msg.mine') && !!prev.textContent?.includes('Tell me about streaming'));
          w.seen.botPresent.push(!!document.querySelector('.member[data-user="skein-bot"].present'));
        }).observe(document.getElementById('thread-pane')!, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      await send(page, 'Tell me about streaming');
      const question = page.locator('#timeline li.msg.mine', { hasText: 'Tell me about streaming' });
      const reply = page.locator('#timeline li.msg.theirs', { hasText: 'I am skein-bot' });
      await reply.waitFor({ timeout: UI_TIMEOUT });
      const seen: { streamTops: number[]; afterQuestion: boolean[]; botPresent: boolean[] } = await page.evaluate(() => (window as any).seen);
      expect(seen.streamTops.length).toBeGreaterThan(3);
      expect(new Set(seen.afterQuestion)).toEqual(new Set([true]));
      expect(new Set(seen.botPresent)).toEqual(new Set([true]));
      // The streaming row started just under the question (no gap), and the message landed there.
      const qBox = (await question.boundingBox())!;
      const rBox = (await reply.boundingBox())!;
      expect(seen.streamTops[0]! - (qBox.y + qBox.height)).toBeLessThan(40);
      expect(Math.abs(rBox.y - seen.streamTops.at(-1)!)).toBeLessThan(2);
      await expect.poll(() => page.locator('#timeline li.stream').count(), { timeout: UI_TIMEOUT }).toBe(0);
      await expect.poll(() => page.locator('.member[data-user="skein-bot"]').getAttribute('class'), { timeout: UI_TIMEOUT }).toContain('absent');
      await page.context().close();
    });
  }
});
