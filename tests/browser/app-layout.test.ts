/**
 * The web app's layout and interaction details against a real relay in Chromium: phone
 * width, the windowed timeline of a long thread, the text-length counter, the archived
 * view, the skip link and day separators (issue 9, items 4, 10, 12, 13).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, writeServiceWorker } from '../../client/app/build.ts';
import { MAX_ROWS } from '../../client/app/timeline-view.ts';
/**
 * Elements a row may take, all its parts counted (author, time, text, status, and since issue
 * 30 its actions: reactions, edit, delete; the emoji picker is built only when opened). The
 * bound is on the window, whatever the thread's size.
 */
const ELEMENTS_PER_ROW = 25;
import { appFixture, filledThread, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;
let staticDir: string;

const app = appFixture(async () => {
  staticDir = await buildApp(mkdtempSync(join(tmpdir(), 'skein-app-')));
  // A 2,000-message thread arrives as one offline backlog: over the default budget (issue 28).
  return { SKEIN_MAX_TEXT_LENGTH: '50', SKEIN_STATIC_DIR: staticDir, SKEIN_BACKLOG_BUDGET: '100000' };
});

const overflowsSideways = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);

describe('web app layout', () => {
  it('at phone width (390 px) the list and the thread are separate views, and nothing scrolls sideways', async () => {
    const { id } = await app.relay.createThread(await app.relay.token('quinn'), ['pat'], 'Phone thread');
    const page = await signInApp(app.browser, app.relay, 'pat', { width: 390, height: 800 });
    const link = page.locator('#thread-list a', { hasText: 'Phone thread' });
    await link.waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('#thread-pane').isVisible()).toBe(false);
    expect(await overflowsSideways(page)).toBe(false);
    await link.click();
    await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('#thread-list').isVisible()).toBe(false);
    const pane = await page.locator('#thread-pane').boundingBox();
    expect(pane!.width).toBeGreaterThan(350);
    expect(await overflowsSideways(page)).toBe(false);
    await page.locator('#compose').fill('hello from a phone');
    await page.locator('#compose').press('Enter');
    await page.locator('li.msg[data-status="sent"]', { hasText: 'hello from a phone' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await overflowsSideways(page)).toBe(false);
    await page.screenshot({ path: 'test-artifacts/app/10-phone-thread.png' }).catch(() => {});
    await page.getByRole('button', { name: 'Threads' }).click();
    await link.waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('#thread-pane').isVisible()).toBe(false);
    expect(page.url()).not.toContain(id);
    await page.context().close();
  });

  it('a 2,000-message thread keeps a bounded DOM; scrolling up pages older messages in', async () => {
    const id = await filledThread(app.relay, 'rey', [], 2000);
    const page = await signInApp(app.browser, app.relay, 'rey');
    await page.goto(`${app.relay.url}/#/t/${id}`);
    await page.locator('li.msg', { hasText: 'message 2000 of 2000' }).waitFor({ timeout: UI_TIMEOUT });
    const rows = () => page.locator('li.msg').count();
    expect(await rows()).toBeLessThanOrEqual(MAX_ROWS);
    expect(await page.evaluate(() => document.querySelectorAll('*').length)).toBeLessThan(MAX_ROWS * ELEMENTS_PER_ROW);
    // Scroll to the top repeatedly: older messages come in, the DOM stays bounded.
    const firstShown = () => page.locator('li.msg .text').first().textContent();
    const before = await firstShown();
    for (let i = 0; i < 5; i++) {
      const prev = await firstShown();
      await page.locator('#timeline').evaluate((el) => (el.scrollTop = 0));
      await expect.poll(firstShown, { timeout: UI_TIMEOUT }).not.toBe(prev);
      expect(await rows()).toBeLessThanOrEqual(MAX_ROWS);
    }
    const n = (t: string | null) => Number(/message (\d+)/.exec(t ?? '')?.[1]);
    expect(n(await firstShown())).toBeLessThan(n(before));
    // Sending while paged back: the message is sent, and scrolling down reaches it.
    await page.locator('#compose').fill('sent while paging');
    await page.locator('#compose').press('Enter');
    for (let i = 0; i < 60; i++) {
      if (await page.locator('li.msg', { hasText: 'sent while paging' }).count()) break;
      await page.locator('#timeline').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await page.waitForTimeout(50);
    }
    await page.locator('li.msg', { hasText: 'sent while paging' }).waitFor({ timeout: UI_TIMEOUT });
    await page.context().close();
  });

  it('a scroll to the top in the same frame as a page coming in is not lost', async () => {
    const id = await filledThread(app.relay, 'rey', [], 600);
    const page = await signInApp(app.browser, app.relay, 'rey');
    await page.goto(`${app.relay.url}/#/t/${id}`);
    await page.locator('li.msg', { hasText: 'message 600 of 600' }).waitFor({ timeout: UI_TIMEOUT });
    const n = (t: string | null) => Number(/message (\d+)/.exec(t ?? '')?.[1]);
    const firstShown = async () => n(await page.locator('li.msg .text').first().textContent());
    const before = await firstShown();
    // A page comes in (its repaint moves the scroll position to keep the rows in place), and
    // before the next frame the reader is at the top again: that scroll must page in too.
    const afterOne = await page.locator('#timeline').evaluate((el) => {
      el.scrollTop = 0;
      el.dispatchEvent(new Event('scroll'));
      const first = el.querySelector('li.msg .text')?.textContent ?? '';
      el.scrollTop = 0;
      return Number(/message (\d+)/.exec(first)?.[1]);
    });
    expect(afterOne).toBeLessThan(before);
    await expect.poll(firstShown, { timeout: UI_TIMEOUT }).toBeLessThan(afterOne);
    await page.context().close();
  });

  it('the composer counts characters near the limit and blocks a too-long message with what to do', async () => {
    await app.relay.createThread(await app.relay.token('sam'), [], 'Limits');
    const page = await signInApp(app.browser, app.relay, 'sam');
    await page.locator('#thread-list a', { hasText: 'Limits' }).click();
    const compose = page.locator('#compose');
    await compose.waitFor({ timeout: UI_TIMEOUT });
    await compose.fill('x'.repeat(45));
    await expect.poll(() => page.locator('#compose-counter').textContent()).toBe('45 / 50');
    await compose.fill('x'.repeat(60));
    await expect.poll(() => page.locator('#compose-counter').textContent()).toBe('10 characters too long (at most 50)');
    expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
    await compose.press('Enter');
    expect(await page.locator('#send-error').textContent()).toMatch(/^Not sent: the text has 60 characters; this relay takes at most 50\. Shorten it/);
    expect(await page.locator('li.msg').count()).toBe(0);
    expect(await compose.inputValue()).toBe('x'.repeat(60));
    await page.context().close();
  });

  it('an archived thread shows no composer and no typing; a skip link reaches the composer; days are labelled', async () => {
    const tina = await app.relay.token('tina');
    const { id } = await app.relay.createThread(tina, [], 'Skip and archive');
    const page = await signInApp(app.browser, app.relay, 'tina');
    await page.locator('#thread-list a', { hasText: 'Skip and archive' }).click();
    await page.locator('#compose').fill('first');
    await page.locator('#compose').press('Enter');
    await page.locator('li.day-sep', { hasText: 'Today' }).waitFor({ timeout: UI_TIMEOUT });
    // After a load, the skip link is the keyboard's first stop and goes to the message box.
    await page.reload();
    await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the message box');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('compose');

    expect((await app.relay.api('POST', `/v1/threads/${id}/archive`, tina)).status).toBe(200);
    await page.locator('#archived-notice').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('#composer').isVisible()).toBe(false);
    expect(await page.locator('#typing').textContent()).toBe('');
    await page.context().close();
  });

  it('a new build of the app is picked up in the background and the old cache is dropped', async () => {
    const page = await signInApp(app.browser, app.relay, 'uma');
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: UI_TIMEOUT });
    const shellCaches = () => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('skein-shell-')));
    const [before] = await shellCaches();
    // The relay now serves a new build (one changed file, so a new shell version).
    appendFileSync(join(staticDir, 'app.css'), '\n.build-marker { --build: 2; }\n');
    const version = await writeServiceWorker(staticDir);
    expect(`skein-shell-${version}`).not.toBe(before);
    // Browsers check sw.js on navigation; the new worker installs, takes over, and deletes the old cache.
    await page.reload();
    await expect.poll(shellCaches, { timeout: UI_TIMEOUT }).toEqual([`skein-shell-${version}`]);
    const css = await page.evaluate(async (v) => (await (await caches.open(`skein-shell-${v}`)).match('./app.css'))?.text(), version);
    expect(css).toContain('.build-marker');
    await page.reload();
    await page.locator('#thread-list').waitFor({ timeout: UI_TIMEOUT });
    await page.context().close();
  });
});
