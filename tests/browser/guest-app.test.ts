/**
 * Guest mode in the web app: real Chromium and a real relay (serving the app). A guest's
 * threads live in the browser only — no request to the relay's API, no socket — are shared by
 * its tabs and survive reloads; after signing in, the user uploads them explicitly.
 */
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 30_000;

const app = appFixture();

/** Every request to the relay's API or sync endpoints a page makes. */
function watchRelayTraffic(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/v1/')) seen.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  page.on('websocket', (ws) => seen.push(`WS ${ws.url()}`));
  return seen;
}

const msg = (page: Page, text: string) => page.locator('#timeline li.msg', { hasText: text });

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#compose').fill(text);
  await page.locator('#compose').press('Enter');
  await msg(page, text).waitFor({ timeout: UI_TIMEOUT });
}

describe('guest mode in the app', () => {
  it('a guest’s threads stay in the browser, shared by its tabs, and are uploaded after sign-in by choice', async () => {
    const context = await app.browser.newContext();
    const tab1 = await context.newPage();
    const traffic1 = watchRelayTraffic(tab1);
    await tab1.goto(app.relay.url + '/');
    await tab1.locator('#continue-as-guest').click();
    await tab1.waitForSelector('#thread-list', { timeout: UI_TIMEOUT });
    expect(await tab1.locator('.topbar .me').innerText()).toContain('Guest');

    await tab1.locator('#new-thread-toggle').click();
    await tab1.getByLabel('Title', { exact: true }).fill('Guest notes');
    await tab1.getByRole('button', { name: 'Create thread' }).click();
    await tab1.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    await send(tab1, 'first guest note');
    await send(tab1, 'second guest note');
    const threadHash = new URL(tab1.url()).hash;

    // A second tab of the same browser: the same thread, live both ways.
    const tab2 = await context.newPage();
    const traffic2 = watchRelayTraffic(tab2);
    await tab2.goto(app.relay.url + '/' + threadHash);
    await msg(tab2, 'second guest note').waitFor({ timeout: UI_TIMEOUT });
    await send(tab2, 'from the second tab');
    await msg(tab1, 'from the second tab').waitFor({ timeout: UI_TIMEOUT });
    // A live stream in one tab grows in the other (guest: through the BroadcastChannel only).
    await tab1.evaluate(() => {
      const s = (window as any).skeinApp.view.startStream();
      s.append('streamed between tabs');
      (window as any).guestStream = s;
    });
    await tab2.locator('#timeline li.stream', { hasText: 'streamed between tabs' }).waitFor({ timeout: UI_TIMEOUT });
    await tab1.evaluate(() => (window as any).guestStream.finish());
    await msg(tab2, 'streamed between tabs').waitFor({ timeout: UI_TIMEOUT });
    // And after a reload.
    await tab1.reload();
    await msg(tab1, 'from the second tab').waitFor({ timeout: UI_TIMEOUT });
    expect(traffic1).toEqual([]);
    expect(traffic2).toEqual([]);
    const guestIds = await tab1.locator('#timeline li.msg').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    expect(guestIds).toHaveLength(4);
    await tab2.close();

    // Sign in: the guest threads are offered, not moved silently.
    await tab1.locator('#guest-signin').click();
    await tab1.getByLabel('Your name').fill('dora');
    await tab1.getByRole('button', { name: 'Sign in' }).click();
    await tab1.locator('#guest-offer').waitFor({ timeout: UI_TIMEOUT });
    expect(await tab1.locator('#guest-offer h2').innerText()).toContain('1 thread');
    await tab1.locator('#guest-upload').click();
    await tab1.locator('#guest-offer').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    const threadId = decodeURIComponent(threadHash.replace('#/t/', ''));
    const token = await app.relay.token('dora');
    await expect
      .poll(async () => ((await app.relay.api('GET', `/v1/threads/${threadId}/messages`, token)).body?.messages ?? []).map((m: { id: string }) => m.id), { timeout: UI_TIMEOUT })
      .toEqual(guestIds);
    const listed = (await app.relay.api('GET', `/v1/threads/${threadId}/messages`, token)).body.messages;
    expect(listed.map((m: { seq: number; authorId: string }) => [m.seq, m.authorId])).toEqual([[1, 'dora'], [2, 'dora'], [3, 'dora'], [4, 'dora']]);
    await tab1.goto(app.relay.url + '/' + threadHash);
    await expect.poll(() => msg(tab1, 'first guest note').getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('sent');
    await context.close();
  });

  it('guest mode says what it is: this browser only, no outage language, no relay-only controls, no Members field', async () => {
    for (const viewport of [{ width: 1200, height: 760 }, { width: 390, height: 844 }]) {
      const context = await app.browser.newContext({ viewport });
      const page = await context.newPage();
      await page.goto(app.relay.url + '/');
      await page.locator('#continue-as-guest').click();
      await page.waitForSelector('#thread-list', { timeout: UI_TIMEOUT });
      await expect.poll(() => page.locator('#conn').innerText(), { timeout: UI_TIMEOUT }).toContain('This browser only');
      // The new-thread form asks only what a guest thread can have: a title.
      await page.locator('#new-thread-toggle').click();
      await page.getByLabel('Title', { exact: true }).waitFor({ timeout: UI_TIMEOUT });
      expect(await page.locator('#new-members').count()).toBe(0);
      expect(await page.locator('#new-follow').count()).toBe(0);
      expect(await page.locator('input[name="mirror"]').count()).toBe(0);
      await page.getByLabel('Title', { exact: true }).fill('Just mine');
      await page.getByRole('button', { name: 'Create thread' }).click();
      await page.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
      await send(page, 'a note to self');
      await expect.poll(() => msg(page, 'a note to self').getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('local');
      await expect.poll(() => page.locator('#thread-pane .thread-heading').innerText(), { timeout: UI_TIMEOUT }).toContain('this browser only');
      const text = await page.locator('body').innerText();
      for (const relayWords of ['Connecting', 'Offline', 'Waiting to send', 'when the relay is back', 'Not mirrored', 'Members:']) {
        expect(text, relayWords).not.toContain(relayWords);
      }
      expect(await page.locator('#offline-banner').count()).toBe(0);
      expect(await page.locator('#resync').count()).toBe(0);
      expect(await page.locator('#archive').count()).toBe(0);
      expect(await page.locator('.mirror-note').count()).toBe(0);
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
      expect(axe.passes.length).toBeGreaterThan(10);
      await context.close();
    }
  });
});
