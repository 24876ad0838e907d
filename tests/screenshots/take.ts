/**
 * Screenshots of the thread view for the README (docs/screenshots/*.png), taken in Debian's
 * Chromium at 1200×760 (desktop) and 390×844 (phone) against a real relay serving a fresh
 * build of the app: a conversation between two people, a reply the demo bot is still
 * streaming, and a guest's thread. Run with `npm run screenshots` (after `npm ci`).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { appRelay, signInApp } from '../helpers/app-browser.ts';
import { launchChromium } from '../helpers/browser.ts';

const OUT = new URL('../../docs/screenshots/', import.meta.url).pathname;
const SIZES = { desktop: { width: 1200, height: 760 }, phone: { width: 390, height: 844 } } as const;
const TIMEOUT = 30_000;

const CONVERSATION: Array<['alice' | 'bob', string]> = [
  ['alice', 'Morning! Did the launch checklist get a final review?'],
  ['bob', 'Yes, went through it last night. Two open items: the status page and the rollback drill.'],
  ['alice', 'I can take the status page. Can you run the drill before noon?'],
  ['bob', 'On it. I will post the timings here.'],
  ['bob', 'Drill done: rollback took 3 min 40 s, well under the 10 min budget.'],
  ['alice', 'Great, that was the last blocker. Shipping at 2 pm then.'],
];

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#compose').fill(text);
  await page.locator('#compose').press('Enter');
  await page.locator('#timeline li.msg[data-status="sent"]', { hasText: text }).waitFor({ timeout: TIMEOUT });
}

async function openThread(page: Page, id: string): Promise<void> {
  await page.evaluate((h) => (location.hash = h), `#/t/${id}`);
  await page.locator('#compose').waitFor({ timeout: TIMEOUT });
}

async function shoot(page: Page, name: string): Promise<void> {
  // The caret blinks and the focus ring moves: neither belongs in a picture.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  console.log(`docs/screenshots/${name}.png`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const relay = await appRelay({ SKEIN_DEMO_BOT: '1' });
  let browser: Browser | null = null;
  try {
    await relay.waitForLog((l) => l.event === 'demo_bot_started');
    browser = await launchChromium();
    for (const [size, viewport] of Object.entries(SIZES)) {
      // A normal thread: alice (this window) and bob (another browser) talk.
      const alice = await signInApp(browser, relay, 'alice', viewport);
      const bob = await signInApp(browser, relay, 'bob', viewport);
      const { id } = await relay.createThread(await relay.token('alice'), ['bob'], `Launch plan (${size})`);
      await relay.createThread(await relay.token('bob'), ['alice'], 'Design review');
      await openThread(alice, id);
      await openThread(bob, id);
      for (const [who, text] of CONVERSATION) await send(who === 'alice' ? alice : bob, text);
      await alice.locator('#timeline li.msg', { hasText: CONVERSATION.at(-1)![1] }).waitFor({ timeout: TIMEOUT });
      await shoot(alice, `thread-${size}`);

      // The demo bot streaming a reply, caught half-way.
      const { id: botThread } = await relay.createThread(await relay.token('alice'), ['skein-bot'], `Ask the bot (${size})`);
      await openThread(alice, botThread);
      await send(alice, 'How do streamed replies work here?');
      await alice.waitForFunction(() => (document.querySelector('#timeline li.stream[data-status="streaming"] .text')?.textContent?.length ?? 0) > 60, undefined, {
        timeout: TIMEOUT,
        polling: 'raf',
      });
      await shoot(alice, `streaming-${size}`);
      await alice.context().close();
      await bob.context().close();

      // A guest: threads in this browser only.
      const guest = await (await browser.newContext({ viewport })).newPage();
      await guest.goto(relay.url + '/');
      await guest.locator('#continue-as-guest').click();
      await guest.locator('#new-thread-toggle').click();
      await guest.getByLabel('Title', { exact: true }).fill('Trip ideas');
      await guest.getByRole('button', { name: 'Create thread' }).click();
      await guest.locator('#compose').waitFor({ timeout: TIMEOUT });
      for (const text of ['Lisbon in May: trams, tiles, pastéis de nata.', 'Check train times Porto → Lisbon.', 'Ask Sam about the flat near Alfama.']) {
        await guest.locator('#compose').fill(text);
        await guest.locator('#compose').press('Enter');
        await guest.locator('#timeline li.msg[data-status="local"]', { hasText: text }).waitFor({ timeout: TIMEOUT });
      }
      await shoot(guest, `guest-${size}`);
      await guest.context().close();
    }
  } finally {
    await browser?.close();
    await relay.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
