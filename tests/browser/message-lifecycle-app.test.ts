/**
 * The web app's edit, delete and reactions (docs/design/message-lifecycle.md) in Chromium
 * against a real relay, at desktop (1200×760) and phone (390×844) width: keyboard only,
 * announced through the live region, no serious axe violations, screenshots in test-artifacts/app/ (docs/screenshots/lifecycle-*.png are copies of them).
 */
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;

const app = appFixture();

/** Presses Tab until the focused element matches `selector` (keyboard only), at most `max` times. */
async function tabTo(page: Page, selector: string, max = 80): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

const announced = (page: Page, text: string) => page.waitForFunction((t) => document.getElementById('live')?.textContent?.includes(t) ?? false, text, { timeout: UI_TIMEOUT });

async function open(page: Page, title: string): Promise<void> {
  await page.locator('#thread-list a', { hasText: title }).click({ timeout: UI_TIMEOUT });
  await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
}

for (const [name, viewport] of [
  ['desktop', { width: 1200, height: 760 }],
  ['phone', { width: 390, height: 844 }],
] as const) {
  describe(`message lifecycle in the app (${name})`, () => {
    it('edit, react and delete by keyboard; the other member sees "edited", counts with who, and "Message deleted"', async () => {
      const title = `Lifecycle ${name}`;
      const { id } = await app.relay.createThread(await app.relay.token('ana'), ['ben'], title);
      const ana = await signInApp(app.browser, app.relay, 'ana', viewport);
      const ben = await signInApp(app.browser, app.relay, 'ben', viewport);
      await open(ana, title);
      await open(ben, title);

      for (const text of ['keep this', 'helo world', 'delete me']) {
        await ana.locator('#compose').fill(text);
        await ana.locator('#compose').press('Enter');
      }
      const row = (page: Page, text: string) => page.locator('li.msg', { hasText: text });
      await row(ben, 'delete me').waitFor({ timeout: UI_TIMEOUT });
      await row(ana, 'delete me').locator('[data-action="edit"]').waitFor({ timeout: UI_TIMEOUT });
      // Ben cannot edit or delete ana's message: no such controls on it.
      expect(await row(ben, 'helo world').locator('[data-action="edit"], [data-action="delete"]').count()).toBe(0);

      // Edit by keyboard: Tab to the row's Edit, Enter, type, Enter saves.
      const typoId = await row(ana, 'helo world').getAttribute('data-id');
      const typo = ana.locator(`li.msg[data-id="${typoId}"]`);
      await typo.locator('[data-action="edit"]').focus();
      await ana.keyboard.press('Enter');
      const editor = typo.locator('textarea.edit-text');
      await expect.poll(() => editor.evaluate((el) => el === document.activeElement), { timeout: UI_TIMEOUT }).toBe(true);
      await ana.keyboard.press('Control+A');
      await ana.keyboard.type('hello world');
      await ana.keyboard.press('Enter');
      await announced(ana, 'Message edited');
      const edited = ben.locator(`li.msg[data-id="${typoId}"]`);
      await expect.poll(() => edited.locator('.text').textContent(), { timeout: UI_TIMEOUT }).toBe('hello world');
      await edited.locator('details.edited summary').waitFor({ timeout: UI_TIMEOUT });
      // Ben opens the earlier versions by keyboard.
      await tabTo(ben, 'li.msg details.edited summary');
      await ben.keyboard.press('Enter');
      await expect.poll(() => edited.locator('ol.versions li').allTextContents(), { timeout: UI_TIMEOUT }).toEqual(['helo world']);

      // Reactions by keyboard: ben opens the picker on "keep this" and picks 👍; ana adds hers.
      const keepBen = row(ben, 'keep this');
      await keepBen.locator('[data-action="react"]').focus();
      await ben.keyboard.press('Enter');
      await keepBen.locator('[data-action="pick-👍"]').focus();
      await ben.keyboard.press('Enter');
      await announced(ben, 'Reacted 👍');
      const keepAna = row(ana, 'keep this');
      const chip = keepAna.locator('button.reaction[data-emoji="👍"]');
      await chip.waitFor({ timeout: UI_TIMEOUT });
      await chip.focus();
      await ana.keyboard.press('Enter');
      await expect.poll(() => keepBen.locator('button.reaction[data-emoji="👍"]').textContent(), { timeout: UI_TIMEOUT }).toBe('👍 2');
      expect(await keepBen.locator('button.reaction[data-emoji="👍"]').getAttribute('aria-label')).toContain('ben, ana');
      expect(await keepBen.locator('button.reaction[data-emoji="👍"]').getAttribute('aria-pressed')).toBe('true');

      // Delete by keyboard, two steps: Delete, then "Delete for everyone".
      const doomedId = await row(ana, 'delete me').getAttribute('data-id');
      const doomed = ana.locator(`li.msg[data-id="${doomedId}"]`);
      await doomed.locator('[data-action="delete"]').focus();
      await ana.keyboard.press('Enter');
      await expect.poll(() => ana.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.action), { timeout: UI_TIMEOUT }).toBe('confirm-delete');
      await ana.keyboard.press('Enter');
      await announced(ana, 'Message deleted');
      await ben.locator(`li.msg[data-id="${doomedId}"] .text.deleted`).waitFor({ timeout: UI_TIMEOUT });
      expect(await ben.locator('li.msg', { hasText: 'delete me' }).count()).toBe(0);
      // The deleted message keeps its place: between nothing after it and "hello world" before.
      const texts = await ben.locator('li.msg .text').allTextContents();
      expect(texts.map((t) => t.replace('🗑 ', ''))).toEqual(['keep this', 'hello world', 'Message deleted']);

      const overflows = await ben.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      expect(overflows).toBe(false);
      const axe = await new AxeBuilder({ page: ben }).include('#timeline').analyze();
      expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
      await keepBen.locator('[data-action="react"]').focus();
      await ben.screenshot({ path: `test-artifacts/app/lifecycle-${name}.png` });
      void id;
      await ana.context().close();
      await ben.context().close();
    }, 180_000);
  });
}
