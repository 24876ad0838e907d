/**
 * Screenshots of the thread view for the README (docs/screenshots/*.png), taken in Debian's
 * Chromium at 1200×760 (desktop) and 390×844 (phone) against a real relay serving a fresh
 * build of the app: a conversation between two people, a reply the demo bot is still
 * streaming, a guest's thread, and a thread joined from another relay (two relays sharing it
 * through a dev-env PDS). Run with `npm run screenshots` (after `npm ci`).
 *
 * Reactions are emoji: without a colour emoji font Chromium draws empty boxes, so the script
 * refuses to run without one (Debian: `apt-get install fonts-noto-color-emoji`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { appRelay, signInApp } from '../helpers/app-browser.ts';
import { AtNetwork, type TestAccount } from '../helpers/at-network.ts';
import { launchChromium } from '../helpers/browser.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

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

/** Whether fontconfig knows a colour emoji font (the reactions in the screenshots need one). */
function hasEmojiFont(): boolean {
  try {
    return /emoji/i.test(execFileSync('fc-list', [':', 'family'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (!hasEmojiFont()) throw new Error('no emoji font: reactions would show as empty boxes (Debian: apt-get install fonts-noto-color-emoji)');
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
    await joinedRemote(browser);
  } finally {
    await browser?.close();
    await relay.stop();
  }
}

/** What relay A's people said before relay B joined (B's backfill brings it), and after. */
const BEFORE_JOIN: Array<[string, string]> = [
  ['alice', 'Welcome to the shared planning thread: it lives on relay A and is public on AT.'],
  ['carol', 'Agenda for Thursday: venue, budget, speakers.'],
];
const AFTER_JOIN: Array<[string, string]> = [['carol', 'Dave, glad you could join from your relay.']];

/**
 * A thread joined from another relay, as its new member sees it: relay A (alice, carol)
 * mirrors a thread to AT and lets relay B's repo in; dave on relay B joins it by its at://
 * URI, gets what was said before (the join backfill) and what is said after, and answers.
 */
async function joinedRemote(browser: Browser): Promise<void> {
  const ADMIN = 'admin-token-for-the-screenshots-0123456789';
  const net = await AtNetwork.start();
  const relays: RelayProcess[] = [];
  const relayFor = async (account: TestAccount): Promise<RelayProcess> => {
    const relay = await appRelay({
      SKEIN_ATPROTO_SERVICE: net.url,
      SKEIN_ATPROTO_IDENTIFIER: account.handle,
      SKEIN_ATPROTO_PASSWORD: account.password,
      SKEIN_ADMIN_TOKEN: ADMIN,
      SKEIN_PLC_URL: net.plcUrl,
    });
    relays.push(relay);
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
    const from = relay.logs.length;
    const src = await relay.api('POST', '/v1/admin/federation/sources', ADMIN, {
      kind: 'PDS', name: 'pds', serviceEndpoint: net.url, isEnabled: true, allowIngest: true, rateLimitPerMinute: 60_000,
    });
    if (src.status !== 201) throw new Error(`federation source not added: ${src.status}`);
    await relay.waitForLog((l) => l.event === 'ingest_source_connected', 60_000, from);
    return relay;
  };
  try {
    const [accA, accB] = [await net.createAccount('shota'), await net.createAccount('shotb')];
    const [a, b] = await Promise.all([relayFor(accA), relayFor(accB)]);
    const aliceToken = await a.token('alice');
    const { id } = await a.createThread(aliceToken, ['carol'], 'Meetup planning', { mirror: true });
    const uri = await waitForUri(a, aliceToken, id);
    const added = await a.api('POST', `/v1/threads/${encodeURIComponent(id)}/remotes`, aliceToken, { did: accB.did });
    if (added.status >= 300) throw new Error(`remote member not added: ${added.status} ${JSON.stringify(added.body)}`);
    const people = { alice: await signInApp(browser, a, 'alice'), carol: await signInApp(browser, a, 'carol') };
    for (const p of Object.values(people)) await openThread(p, id);
    for (const [who, text] of BEFORE_JOIN) await send(people[who as 'alice' | 'carol'], text);

    // dave joins on relay B by the URI (desktop), then opens the same thread on a phone.
    const dave = await signInApp(browser, b, 'dave', SIZES.desktop);
    await dave.locator('#new-thread-toggle').click();
    await dave.getByLabel('Title', { exact: true }).fill('Meetup planning');
    const follow = dave.getByLabel('Join a thread of another relay (optional)');
    // Enabled once relay B's capabilities say it reads AT.
    await dave.waitForFunction((el) => !(el as HTMLInputElement).disabled, await follow.elementHandle(), { timeout: 60_000 });
    await follow.fill(uri);
    await dave.getByRole('button', { name: 'Create thread' }).click();
    await dave.locator('#compose').waitFor({ timeout: TIMEOUT });
    for (const [, text] of BEFORE_JOIN) await dave.locator('#timeline li.msg', { hasText: text }).waitFor({ timeout: 90_000 });
    for (const [who, text] of AFTER_JOIN) await send(people[who as 'alice' | 'carol'], text);
    await dave.locator('#timeline li.msg', { hasText: AFTER_JOIN.at(-1)![1] }).waitFor({ timeout: 60_000 });
    await send(dave, 'Thanks! I can bring the projector.');
    await people.alice.locator('#timeline li.msg', { hasText: 'I can bring the projector' }).waitFor({ timeout: 60_000 });
    await shoot(dave, 'joined-desktop');

    const davePhone = await signInApp(browser, b, 'dave', SIZES.phone);
    const joinedId = decodeURIComponent(/#\/t\/([^/]+)$/.exec(dave.url())![1]!);
    await openThread(davePhone, joinedId);
    await davePhone.locator('#timeline li.msg', { hasText: 'I can bring the projector' }).waitFor({ timeout: 60_000 });
    await davePhone.locator('#timeline li.msg', { hasText: BEFORE_JOIN[0]![1] }).waitFor({ timeout: 60_000 });
    await shoot(davePhone, 'joined-phone');
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
    await net.close();
  }
}

/** The at:// URI of a mirrored thread, once relay A has written its thread record. */
async function waitForUri(relay: RelayProcess, token: string, id: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await relay.api('GET', `/v1/threads/${encodeURIComponent(id)}`, token);
    const uri = (res.body as { atUri?: string; at?: { uri?: string } }).atUri ?? (res.body as { at?: { uri?: string } }).at?.uri;
    if (uri) return uri;
    if (Date.now() > deadline) throw new Error(`no at:// URI for ${id}: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
