/**
 * The app fills the window and never scrolls as a page (issue 31, items 1 and 2): at desktop
 * (1200×760) and phone (390×844) sizes the document is exactly as tall as the viewport, the
 * timeline is the only thing that scrolls, a thread opens at its newest message with the
 * composer on screen, the header and back button stay put after sending, and paging back
 * with the mouse wheel over the timeline reaches the first message at phone width.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture, filledThread, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;
const DESKTOP = { width: 1200, height: 760 };
const PHONE = { width: 390, height: 844 };

const app = appFixture();

/** The page's own scrollable height and the window's height. */
const pageHeight = (page: Page) =>
  page.evaluate(() => ({ doc: document.documentElement.scrollHeight, body: document.body.scrollHeight, viewport: window.innerHeight }));

async function expectNoPageScroll(page: Page, height: number): Promise<void> {
  expect(await pageHeight(page)).toEqual({ doc: height, body: height, viewport: height });
}

/** True when `selector`'s box lies inside the viewport and inside the timeline's visible part. */
const onScreen = (page: Page, selector: string) =>
  page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) return false;
    const r = el.getBoundingClientRect();
    const inWindow = r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;
    const tl = el.closest('#timeline');
    if (!tl) return inWindow;
    const t = tl.getBoundingClientRect();
    return inWindow && r.top >= t.top - 1 && r.bottom <= t.bottom + 1;
  }, selector);

const n = (t: string | null) => Number(/message (\d+) of/.exec(t ?? '')?.[1]);

describe('the app in the window', () => {
  it('desktop: the document is as tall as the window, whatever the thread holds', async () => {
    const id = await filledThread(app.relay, 'wendy', [], 12, 'Desk thread');
    const page = await signInApp(app.browser, app.relay, 'wendy', DESKTOP);
    await page.goto(`${app.relay.url}/#/t/${id}`);
    await page.locator('li.msg', { hasText: 'message 12 of 12' }).waitFor({ timeout: UI_TIMEOUT });
    await expectNoPageScroll(page, DESKTOP.height);
    // The wheel over the thread list moves nothing: the page has nowhere to go.
    await page.locator('#thread-list').hover();
    await page.mouse.wheel(0, 800);
    await page.locator('#compose').fill('after the wheel');
    await page.locator('#compose').press('Enter');
    await page.locator('li.msg[data-status="sent"]', { hasText: 'after the wheel' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    await expectNoPageScroll(page, DESKTOP.height);
    expect(await onScreen(page, 'li.msg:last-of-type')).toBe(true);
    await page.context().close();
  });

  it('phone: a thread opens at its newest message, the header stays put, and the wheel pages back to message 1', async () => {
    const total = 300;
    const id = await filledThread(app.relay, 'pia', [], total, 'Phone long');
    const page = await signInApp(app.browser, app.relay, 'pia', PHONE);
    await expectNoPageScroll(page, PHONE.height);
    await page.locator('#thread-list a', { hasText: 'Phone long' }).click();
    const newest = page.locator('li.msg', { hasText: `message ${total} of ${total}` });
    await newest.waitFor({ timeout: UI_TIMEOUT });
    await expectNoPageScroll(page, PHONE.height);
    // Opens at the newest message, with the composer on screen.
    const newestId = await newest.getAttribute('data-id');
    await expect.poll(() => onScreen(page, `li.msg[data-id="${newestId}"]`), { timeout: UI_TIMEOUT }).toBe(true);
    expect(await onScreen(page, '#compose')).toBe(true);
    const back = page.getByRole('button', { name: 'Threads' });
    const backBefore = await back.boundingBox();
    const titleBefore = await page.locator('#thread-title').boundingBox();
    expect(backBefore!.y).toBeGreaterThanOrEqual(0);

    // Sending keeps the header where it is and shows the new message above the composer.
    await page.locator('#compose').fill('from the phone');
    await page.locator('#compose').press('Enter');
    const mine = page.locator('li.msg[data-status="sent"]', { hasText: 'from the phone' });
    await mine.waitFor({ timeout: UI_TIMEOUT });
    const mineId = await mine.getAttribute('data-id');
    await expect.poll(() => onScreen(page, `li.msg[data-id="${mineId}"]`), { timeout: UI_TIMEOUT }).toBe(true);
    expect(await back.boundingBox()).toEqual(backBefore);
    expect(await page.locator('#thread-title').boundingBox()).toEqual(titleBefore);
    expect(await onScreen(page, '#compose')).toBe(true);
    await expectNoPageScroll(page, PHONE.height);

    // Paging back: the wheel over the timeline (as a reader's thumb or mouse) reaches message 1.
    const box = (await page.locator('#timeline').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const firstShown = async () => n(await page.locator('li.msg .text').first().textContent());
    await expect
      .poll(
        async () => {
          await page.mouse.wheel(0, -4000);
          return firstShown();
        },
        { timeout: 60_000, interval: 100 },
      )
      .toBe(1);
    expect(await back.boundingBox()).toEqual(backBefore);
    await expectNoPageScroll(page, PHONE.height);
    await page.context().close();
  });
});
