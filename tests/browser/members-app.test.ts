/**
 * Member management in the web app (issue 30), real Chromium against a relay serving the
 * built app: alice (owner, desktop 1200×760) adds a member and names bob moderator with the
 * keyboard only; bob (phone 390×844) manages members too; when alice removes bob, his app
 * leaves the thread, says so, and his IndexedDB no longer holds it. Screenshots go to
 * test-artifacts/app/ (docs/screenshots/members-*.png are copies of them). Membership changes
 * are rows of the timeline (system-events-app.test.ts checks their place among messages).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { appFixture, signInApp } from '../helpers/app-browser.ts';

const UI_TIMEOUT = 60_000;

const app = appFixture();

const open = (page: Page, id: string) => page.evaluate((t) => (location.hash = `#/t/${encodeURIComponent(t)}`), id);
/** `name role` of each listed member. */
const members = (page: Page) =>
  page.locator('#member-list li').evaluateAll((lis) => lis.map((li) => `${li.querySelector('.member-name')?.textContent} ${li.querySelector('.role')?.textContent}`));
const announced = (page: Page) => page.evaluate(() => ((window as any).skeinApp.announcer.history as string[]).join('\n'));
const focusedId = (page: Page) => page.evaluate(() => document.activeElement?.id ?? '');

describe('member management in the app', () => {
  it('owner and moderator manage members with the keyboard at desktop and phone width; a removed member loses the thread', async () => {
    const { id } = await app.relay.createThread(await app.relay.token('alice'), ['bob'], 'Team room');
    const alice = await signInApp(app.browser, app.relay, 'alice', { width: 1200, height: 760 });
    const bob = await signInApp(app.browser, app.relay, 'bob', { width: 390, height: 844 });
    await open(alice, id);
    await open(bob, id);
    await alice.locator('#members-summary').waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => alice.locator('#members-summary').textContent(), { timeout: UI_TIMEOUT }).toBe('Manage members (2)');
    // A plain member sees the roles but no controls.
    await expect.poll(() => bob.locator('#members-summary').textContent(), { timeout: UI_TIMEOUT }).toBe('Members and roles (2)');
    await bob.locator('#members-summary').click();
    expect(await bob.locator('#add-member').count()).toBe(0);
    expect(await bob.locator('.remove-member').count()).toBe(0);

    // Keyboard only: open the panel, add carol, make bob moderator.
    await alice.locator('#members-summary').focus();
    await alice.keyboard.press('Enter');
    await alice.locator('#add-member').waitFor({ timeout: UI_TIMEOUT });
    await alice.keyboard.press('Tab');
    // Tab order: bob's role button, bob's remove button, then the add field.
    expect(await alice.evaluate(() => document.activeElement?.textContent)).toBe('Make moderator for bob');
    await alice.locator('#add-member').focus();
    await alice.keyboard.type('carol');
    await alice.keyboard.press('Enter');
    await expect.poll(() => members(alice), { timeout: UI_TIMEOUT }).toEqual(['alice (you) owner', 'bob member', 'carol member']);
    expect(await focusedId(alice)).toBe('add-member');
    await alice.getByRole('button', { name: 'Make moderator for bob' }).focus();
    await alice.keyboard.press('Enter');
    await expect.poll(() => alice.locator('#timeline li.system-event .event-text').allTextContents(), { timeout: UI_TIMEOUT }).toEqual(['alice added carol', 'alice made bob moderator']);
    await expect.poll(() => announced(alice), { timeout: UI_TIMEOUT }).toContain('bob is now a moderator');

    // Bob, now a moderator, gets the controls on his phone and removes carol.
    await expect.poll(() => bob.locator('#members-summary').textContent(), { timeout: UI_TIMEOUT }).toBe('Manage members (3)');
    await bob.getByRole('button', { name: 'Remove carol from this thread' }).click();
    await expect.poll(() => members(bob), { timeout: UI_TIMEOUT }).toEqual(['alice owner', 'bob (you) moderator']);
    await expect.poll(() => bob.locator('#timeline li.system-event .event-text').allTextContents(), { timeout: UI_TIMEOUT }).toEqual(['alice added carol', 'alice made bob moderator', 'bob removed carol']);
    // Nothing overflows the phone's width with the panel open.
    expect(await bob.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await alice.screenshot({ path: 'test-artifacts/app/members-desktop.png' });
    await bob.screenshot({ path: 'test-artifacts/app/members-phone.png' });

    // Alice removes bob: his app leaves the thread, says why, and keeps none of it.
    const bobDbs = () => bob.evaluate(async (t) => (await indexedDB.databases()).map((d) => d.name!).filter((n) => n.includes(`:thread:${t}`)), id);
    expect(await bobDbs()).not.toEqual([]);
    await alice.getByRole('button', { name: 'Remove bob from this thread' }).click();
    await expect.poll(() => announced(bob), { timeout: UI_TIMEOUT }).toContain('You were removed from Team room');
    await expect.poll(() => bob.locator(`#thread-list a[data-id="${id}"]`).count(), { timeout: UI_TIMEOUT }).toBe(0);
    await expect.poll(() => bob.locator('#thread-title').textContent(), { timeout: UI_TIMEOUT }).toBe('No thread open');
    await expect.poll(bobDbs, { timeout: UI_TIMEOUT }).toEqual([]);
    await expect.poll(() => members(alice), { timeout: UI_TIMEOUT }).toEqual(['alice (you) owner']);
  }, 240_000);
});
