/**
 * Membership changes inline in the timeline (issue 30, docs/design/membership.md), real
 * Chromium against a relay serving the built app, at desktop (1200×760) and phone (390×844)
 * width (screenshots in test-artifacts/app/, docs/screenshots/system-events-*.png are copies):
 * "alice added carol" and "alice removed carol" sit between the messages sent before
 * and after them, in the same order for both members, as distinct rows a screen reader reads
 * as membership changes; the other member's live region announces them.
 */
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;

const app = appFixture();

/** The timeline's rows in DOM order: a message's text, or `[event] …` for a membership change. */
const rows = (page: Page) =>
  page.locator('#timeline > li.msg, #timeline > li.system-event').evaluateAll((lis) =>
    lis.map((li) => (li.classList.contains('system-event') ? `[event] ${li.querySelector('.event-text')?.textContent}` : (li.querySelector('.text')?.textContent ?? ''))),
  );

/** Resolves once the page's live region has said `text` (announcer.ts keeps what it said). */
const announced = (page: Page, text: string) =>
  page.waitForFunction((t) => ((window as any).skeinApp.announcer.history as string[]).some((h) => h.includes(t)), text, { timeout: UI_TIMEOUT });

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#compose').fill(text);
  await page.locator('#compose').press('Enter');
  await page.locator('li.msg.mine[data-status="sent"], li.msg.mine[data-status="confirmed"]', { hasText: text }).waitFor({ timeout: UI_TIMEOUT });
}

for (const [name, viewport] of [
  ['desktop', { width: 1200, height: 760 }],
  ['phone', { width: 390, height: 844 }],
] as const) {
  describe(`membership changes in the timeline (${name})`, () => {
    it('shows added and removed members between the messages around them, for every member, announced', async () => {
      const title = `Events ${name}`;
      const aliceToken = await app.relay.token('alice');
      const { id } = await app.relay.createThread(aliceToken, ['bob'], title);
      const alice = await signInApp(app.browser, app.relay, 'alice', viewport);
      const bob = await signInApp(app.browser, app.relay, 'bob', viewport);
      for (const page of [alice, bob]) {
        await page.locator('#thread-list a', { hasText: title }).click({ timeout: UI_TIMEOUT });
        await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
      }
      await send(alice, 'before carol');
      await bob.locator('li.msg', { hasText: 'before carol' }).waitFor({ timeout: UI_TIMEOUT });
      expect((await app.relay.api('POST', `/v1/threads/${id}/members`, aliceToken, { userId: 'carol' })).status).toBe(200);
      await bob.locator('li.system-event', { hasText: 'alice added carol' }).waitFor({ timeout: UI_TIMEOUT });
      // Bob did not make the change: his live region tells him.
      await announced(bob, 'alice added carol');
      await send(bob, 'while carol is here');
      expect((await app.relay.api('DELETE', `/v1/threads/${id}/members/carol`, aliceToken)).status).toBe(200);
      await alice.locator('li.system-event', { hasText: 'alice removed carol' }).waitFor({ timeout: UI_TIMEOUT });
      await announced(bob, 'alice removed carol');
      await send(alice, 'after carol');

      const want = ['before carol', '[event] alice added carol', 'while carol is here', '[event] alice removed carol', 'after carol'];
      for (const page of [alice, bob]) await expect.poll(() => rows(page), { timeout: UI_TIMEOUT }).toEqual(want);
      // A distinct row, not a message: no author, no actions; read as a membership change.
      const event = bob.locator('li.system-event', { hasText: 'alice added carol' });
      expect(await event.evaluate((li) => (li as HTMLElement).innerText.replace(/\s+/g, ' ').trim())).toMatch(/^Membership change: alice added carol \d/);
      expect(await event.locator('button, .author').count()).toBe(0);
      expect(await bob.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
      const axe = await new AxeBuilder({ page: bob }).include('#timeline').analyze();
      expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
      await bob.screenshot({ path: `test-artifacts/app/system-events-${name}.png` });
      await alice.context().close();
      await bob.context().close();
    }, 180_000);
  });
}
