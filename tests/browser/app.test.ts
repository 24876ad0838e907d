/**
 * The chat web app end to end: real Chromium (two browser contexts = two users), a real
 * relay process serving the built app, and a real reference PDS (@atproto/dev-env, in
 * this process) behind a loopback proxy that can refuse chosen writes. One browser, one
 * PDS and one relay for the whole file; the scenarios build on each other in order.
 * Screenshots of the main states go to test-artifacts/app/ (gitignored).
 */
import { AxeBuilder } from '@axe-core/playwright';
import { AtpAgent } from '@atproto/api';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../client/app/build.ts';
import { AtNetwork } from '../helpers/at-network.ts';
import { launchChromium } from '../helpers/browser.ts';
import { PdsProxy } from '../helpers/pds-proxy.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';

const ARTIFACTS = new URL('../../test-artifacts/app/', import.meta.url).pathname;
const UI_TIMEOUT = 30_000;

let net: AtNetwork;
let proxy: PdsProxy;
let relay: RelayProcess;
let browser: Browser;
let alice: Page;
let bob: Page;
const contexts: BrowserContext[] = [];
/** The URL of every WebSocket the app opened, in every tab (issue 28: no token in them). */
const socketUrls: string[] = [];
/** Console lines of every tab: a browser prints the URL of each socket that failed to open. */
const consoleLines: string[] = [];

function watchSockets(context: BrowserContext): void {
  const watch = (page: Page) => {
    page.on('websocket', (ws) => socketUrls.push(ws.url()));
    page.on('console', (m) => consoleLines.push(m.text()));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const staticDir = await buildApp(mkdtempSync(join(tmpdir(), 'skein-app-')));
  net = await AtNetwork.start();
  const account = await net.createAccount('relay');
  proxy = new PdsProxy(net.url);
  await proxy.start();
  relay = await startRelay({
    SKEIN_ATPROTO_SERVICE: proxy.url,
    SKEIN_ATPROTO_IDENTIFIER: account.handle,
    SKEIN_ATPROTO_PASSWORD: account.password,
    SKEIN_BRIDGE_BACKOFF_BASE_MS: '200',
    SKEIN_BRIDGE_BACKOFF_MAX_MS: '1000',
    // One refused PDS call marks the bridge degraded (until the next success), for the banner.
    SKEIN_BRIDGE_FAILING_AFTER: '1',
    SKEIN_STATIC_DIR: staticDir,
  });
  await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await browser?.close();
  await relay?.stop();
  await proxy?.close();
  await net?.close();
});

async function signIn(name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  contexts.push(context);
  watchSockets(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(relay.url + '/');
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#thread-list', { timeout: UI_TIMEOUT });
  return page;
}

const msg = (page: Page, text: string) => page.locator('li.msg', { hasText: text });

async function waitStatus(page: Page, text: string, status: string): Promise<void> {
  await msg(page, text).and(page.locator(`[data-status="${status}"]`)).waitFor({ timeout: UI_TIMEOUT });
}

/** Records every status each message row shows (rows are replaced when their status changes). */
async function recordStatuses(page: Page): Promise<void> {
  await page.evaluate(() => {
    const log: Record<string, string[]> = {};
    (window as any).statusLog = log;
    const scan = () => {
      for (const li of Array.from(document.querySelectorAll<HTMLElement>('li.msg'))) {
        const text = li.querySelector('.text')?.textContent ?? '';
        const s = li.dataset.status!;
        const seen = (log[text] ??= []);
        if (seen[seen.length - 1] !== s) seen.push(s);
      }
    };
    new MutationObserver(scan).observe(document.getElementById('timeline')!, { childList: true, subtree: true, attributes: true });
  });
}

async function expectNoSeriousA11yViolations(page: Page, screen: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${screen}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  // Axe really ran over the page (a blank page would pass trivially).
  expect(result.passes.length).toBeGreaterThan(10);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

describe('chat web app', () => {
  it('two users chat; statuses go sending → sent → mirrored; the at:// URI resolves in the PDS', async () => {
    // Sign-in screen (bob's, before he signs in) passes axe.
    const bobCtx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    contexts.push(bobCtx);
    const signin = await bobCtx.newPage();
    await signin.goto(relay.url + '/');
    await signin.getByLabel('Your name').waitFor();
    await expectNoSeriousA11yViolations(signin, 'sign-in');
    await shot(signin, '01-sign-in');
    await signin.close();

    alice = await signIn('alice');
    // After sign-in the keyboard starts in the thread list (here: its New thread button).
    expect(await alice.evaluate(() => document.activeElement?.id)).toBe('new-thread-toggle');
    // The form is collapsed behind that button, so the path from the list to a thread is short.
    expect(await alice.getByLabel('Title', { exact: true }).isVisible()).toBe(false);
    await alice.keyboard.press('Enter');
    await alice.getByLabel('Title', { exact: true }).fill('Launch plan');
    await alice.getByLabel('Members', { exact: true }).fill('bob');
    // The mirroring choice is stated plainly and chosen explicitly: public publication is
    // never preselected (once the bridge is known to be on, "No" is still the choice).
    const publish = alice.getByLabel(/Yes – also publish every message as a public AT record/);
    await expect.poll(() => publish.isEnabled(), { timeout: UI_TIMEOUT }).toBe(true);
    expect(await alice.getByLabel(/No – messages stay on this relay/).isChecked()).toBe(true);
    await publish.check();
    await alice.getByRole('button', { name: 'Create thread' }).click();
    await alice.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => alice.locator('.mirror-note').textContent()).toContain('public AT Protocol record');

    // The first mirror attempt meets a busy PDS (503), so "sent" lasts at least one backoff.
    let busy = true;
    proxy.onApplyWrites = ({ texts }) => {
      if (busy && texts.includes('Hello Bob')) {
        busy = false;
        return { status: 503, body: { error: 'ServiceUnavailable', message: 'busy' } };
      }
      return undefined;
    };
    await recordStatuses(alice);
    await alice.locator('#compose').fill('Hello Bob');
    await alice.locator('#compose').press('Enter');
    await waitStatus(alice, 'Hello Bob', 'confirmed');
    expect(await alice.evaluate(() => (window as any).statusLog['Hello Bob'])).toEqual(['pending', 'sent', 'confirmed']);
    const status = msg(alice, 'Hello Bob').locator('.status');
    await expect.poll(() => status.textContent()).toContain('Mirrored to AT');
    expect(await status.locator('[aria-hidden="true"]').textContent()).toBe('✓✓'); // icon
    expect(await status.getAttribute('title')).toMatch(/^Mirrored to AT: published as the AT Protocol record at:\/\//);

    // The URI shown is a real record in the PDS with this text.
    // Compact in the bubble ("on AT"); the full URI is in the link's title and accessible name.
    const atLink = msg(alice, 'Hello Bob').locator('.at-uri a');
    expect((await atLink.innerText()).trim()).toBe('on AT');
    const uri = (await atLink.getAttribute('title'))!;
    const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
    expect(m, uri).not.toBeNull();
    const record = await new AtpAgent({ service: net.url }).com.atproto.repo.getRecord({ repo: m![1]!, collection: m![2]!, rkey: m![3]! });
    expect(record.data.uri).toBe(uri);
    expect((record.data.value as { text: string }).text).toBe('Hello Bob');

    // Bob: the thread list shows the unread count and the last message.
    bob = await signIn('bob');
    const row = bob.locator('#thread-list a', { hasText: 'Launch plan' });
    await row.locator('.badge').waitFor({ timeout: UI_TIMEOUT });
    expect(await row.locator('.badge').textContent()).toBe('1 unread');
    expect(await row.locator('.thread-last').textContent()).toBe('alice: Hello Bob');
    await shot(bob, '02-thread-list-unread');
    await row.click();
    await waitStatus(bob, 'Hello Bob', 'confirmed');
    // Bob read it: alice sees the receipt; bob's badge is gone.
    await msg(alice, 'Hello Bob').locator('.seen', { hasText: 'Seen by bob' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await row.locator('.badge').count()).toBe(0);
    // Presence and typing.
    await alice.locator('.member.present[data-user="bob"]').waitFor({ timeout: UI_TIMEOUT });
    await bob.locator('#compose').pressSequentially('Yes, ');
    await alice.locator('#typing', { hasText: 'bob is typing…' }).waitFor({ timeout: UI_TIMEOUT });
    await bob.locator('#compose').pressSequentially('it mirrors to AT.');
    await bob.locator('#compose').press('Enter');
    await waitStatus(alice, 'Yes, it mirrors to AT.', 'confirmed');
    // The live region announced bob's message to alice.
    await expect
      .poll(() => alice.evaluate(() => (window as any).skeinApp.announcer.history.join('\n')), { timeout: UI_TIMEOUT })
      .toContain('bob: Yes, it mirrors to AT');
    expect(await alice.locator('#live').getAttribute('aria-live')).toBe('polite');
    await expect.poll(() => alice.locator('#typing').textContent(), { timeout: UI_TIMEOUT }).toBe('');

    await expectNoSeriousA11yViolations(alice, 'thread');
    await shot(alice, '03-thread-mirrored');

    // Manual resync: the indicator shows while it runs and is gone afterwards. The relay's
    // answer to the resync's thread fetch is held until the indicator was seen, so the
    // test observes the running state instead of racing a resync that may finish within
    // one frame.
    await alice.locator('#resync-indicator').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    const before = await alice.evaluate(() => (window as any).skeinApp.view.resyncCount as number);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const threadFetch = /\/v1\/threads\/[^/?]+$/;
    await alice.route(threadFetch, async (route) => {
      await held;
      await route.continue();
    });
    try {
      await alice.getByRole('button', { name: 'Resync' }).click();
      await alice.locator('#resync-indicator').waitFor({ timeout: UI_TIMEOUT });
      expect(await alice.locator('#resync-indicator').textContent()).toContain('Resyncing this thread');
    } finally {
      release();
    }
    await expect.poll(() => alice.evaluate(() => (window as any).skeinApp.view.resyncCount as number), { timeout: UI_TIMEOUT }).toBeGreaterThan(before);
    await alice.locator('#resync-indicator').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await alice.unroute(threadFetch);
  });

  it('loading the app while the relay is up shows "connecting", never "offline", until it is online', async () => {
    // A new user (no threads yet, so no thread connection either): every state of the header
    // and banners from the first paint on, at sign-in and after a reload.
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    contexts.push(context);
    await context.addInitScript(() => {
      const log: string[] = [];
      (window as any).connLog = log;
      const scan = () => {
        const conn = document.querySelector('.conn')?.textContent ?? '';
        const s = conn + (document.getElementById('offline-banner') ? ' + offline banner' : '');
        if (s && log[log.length - 1] !== s) log.push(s);
      };
      new MutationObserver(scan).observe(document, { childList: true, subtree: true, characterData: true });
    });
    const dora = await context.newPage();
    await dora.goto(relay.url + '/');
    await dora.getByLabel('Your name').fill('dora');
    await dora.getByRole('button', { name: 'Sign in' }).click();
    for (let load = 0; load < 2; load++) {
      if (load > 0) await dora.reload();
      await dora.locator('.conn', { hasText: 'Online' }).waitFor({ timeout: UI_TIMEOUT });
      const log: string[] = await dora.evaluate(() => (window as any).connLog);
      expect(log[log.length - 1]).toBe('● Online');
      expect(log.filter((s) => /Offline|banner/.test(s))).toEqual([]);
    }
    await context.close();
  });

  it('keyboard only: reach and press Retry on a failed mirror', async () => {
    proxy.onApplyWrites = ({ texts }) =>
      texts.some((t) => t.startsWith('Refused'))
        ? { status: 400, body: { error: 'InvalidRequest', message: 'Invalid record: refused by this PDS' } }
        : undefined;
    await alice.locator('#compose').fill('Refused by the PDS at first');
    await alice.locator('#compose').press('Enter');
    await waitStatus(alice, 'Refused by the PDS at first', 'failed');
    const failed = msg(alice, 'Refused by the PDS at first');
    expect(await failed.locator('.status').textContent()).toContain('Mirror failed');
    expect(await failed.locator('.reason').textContent()).toBe('Reason: the AT server refused the record as invalid.');
    await expectNoSeriousA11yViolations(alice, 'failed message');
    await shot(alice, '04-mirror-failed');

    proxy.onApplyWrites = () => undefined; // the cause is fixed
    // From the top of the page, Tab until the Retry button has focus.
    await alice.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await alice.keyboard.press('Tab');
      reached = await alice.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        return !!el?.matches('button[data-action="retry"]') && !!el.closest('li.msg')?.textContent?.includes('Refused by the PDS at first');
      });
    }
    expect(reached).toBe(true);
    expect(await alice.evaluate(() => document.activeElement?.textContent)).toBe('Retry mirroring this message to AT');
    await alice.keyboard.press('Enter');
    await waitStatus(alice, 'Refused by the PDS at first', 'confirmed');
    expect(await msg(alice, 'Refused by the PDS at first').locator('.at-uri').getAttribute('data-uri')).toMatch(/^at:\/\//);
    // Focus was not dropped to <body>: it is on the message's status.
    expect(await alice.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return !!el?.matches('.status') && !!el.closest('li.msg')?.textContent?.includes('Refused by the PDS at first');
    })).toBe(true);
  });

  it('a failing PDS: the relay reports AT mirroring degraded and the app warns until it recovers', async () => {
    let failing = true;
    proxy.onApplyWrites = () => (failing ? { status: 503, body: { error: 'ServiceUnavailable', message: 'down for a bit' } } : undefined);
    await alice.locator('#compose').fill('Delayed by the PDS');
    await alice.locator('#compose').press('Enter');
    await waitStatus(alice, 'Delayed by the PDS', 'sent');
    // Capabilities are polled: the warning comes within a poll interval.
    const banner = alice.locator('#at-degraded-banner');
    await banner.waitFor({ timeout: UI_TIMEOUT });
    expect(await banner.textContent()).toContain('AT mirroring is delayed or failing: the AT server is answering with errors.');
    expect(await banner.textContent()).not.toContain('pds_failing'); // no raw codes for readers
    await shot(alice, '05-at-degraded');
    failing = false;
    await waitStatus(alice, 'Delayed by the PDS', 'confirmed');
    await banner.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('offline: the banner shows, composing still works, and messages go out when the relay returns', async () => {
    // The service worker has cached the app shell and controls the page.
    await alice.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: UI_TIMEOUT });
    await relay.stop();
    const banner = alice.locator('#offline-banner');
    await banner.waitFor({ timeout: UI_TIMEOUT });
    expect(await banner.textContent()).toMatch(/^⚡ Offline – latest messages at \d{1,2}:\d{2}\b/);
    await alice.locator('#compose').fill('Written while offline');
    await alice.locator('#compose').press('Enter');
    await waitStatus(alice, 'Written while offline', 'pending');
    expect(await msg(alice, 'Written while offline').locator('.status').textContent()).toContain('Waiting to send');
    await expectNoSeriousA11yViolations(alice, 'offline');
    await shot(alice, '06-offline');

    // A reload and a new tab with the relay down: the app starts from the cached shell and
    // renders the thread from IndexedDB; the new tab can write too.
    await alice.reload();
    await msg(alice, 'Yes, it mirrors to AT.').waitFor({ timeout: UI_TIMEOUT });
    await waitStatus(alice, 'Written while offline', 'pending');
    const tab = await alice.context().newPage();
    await tab.goto(alice.url());
    await msg(tab, 'Yes, it mirrors to AT.').waitFor({ timeout: UI_TIMEOUT });
    await tab.locator('#compose').fill('Written in a new tab, offline');
    await tab.locator('#compose').press('Enter');
    await waitStatus(tab, 'Written in a new tab, offline', 'pending');
    await shot(tab, '06b-new-tab-offline');

    await relay.start();
    for (const text of ['Written while offline', 'Written in a new tab, offline']) {
      await waitStatus(alice, text, 'confirmed');
      await waitStatus(tab, text, 'confirmed');
      await waitStatus(bob, text, 'confirmed');
      // Exactly once on every side, and once in the relay's history.
      for (const page of [alice, tab, bob]) expect(await msg(page, text).count()).toBe(1);
    }
    await banner.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    const threadId = decodeURIComponent(alice.url().split('#/t/')[1]!);
    const history = await relay.api('GET', `/v1/threads/${encodeURIComponent(threadId)}/messages?limit=1000`, await relay.token('alice'));
    const texts = history.body.messages.map((m: { text: string }) => m.text);
    expect(texts.filter((t: string) => t === 'Written while offline')).toHaveLength(1);
    expect(texts.filter((t: string) => t === 'Written in a new tab, offline')).toHaveLength(1);
    await tab.close();
    await shot(alice, '07-back-online');
  });

  it('archiving: a message to an archived thread is rejected with its reason and a way forward', async () => {
    // Alice archives; bob's copy does not know yet when he writes (his tab was offline).
    await bob.context().setOffline(true);
    await alice.getByRole('button', { name: 'Archive thread' }).click();
    await alice.locator('#archived-notice').waitFor({ timeout: UI_TIMEOUT });
    await bob.locator('#compose').fill('Sent after the archive');
    await bob.locator('#compose').press('Enter');
    await waitStatus(bob, 'Sent after the archive', 'pending');
    await bob.context().setOffline(false);
    await waitStatus(bob, 'Sent after the archive', 'rejected');
    const rejected = msg(bob, 'Sent after the archive');
    expect(await rejected.locator('.status').textContent()).toContain('Not delivered');
    expect(await rejected.locator('.reason').textContent()).toBe('Reason: the thread is archived.');
    await expectNoSeriousA11yViolations(bob, 'rejected message');
    await shot(bob, '08-rejected');
    // The relay deleted the refused message from the document; its author still sees it after a reload.
    await bob.reload();
    await waitStatus(bob, 'Sent after the archive', 'rejected');
    // Way forward 1: reopen the thread and send the text again (a new message; the refused one is gone).
    await msg(bob, 'Sent after the archive').getByRole('button', { name: 'Reopen the thread and send it again' }).click();
    await waitStatus(bob, 'Sent after the archive', 'confirmed');
    await waitStatus(alice, 'Sent after the archive', 'confirmed');
    await alice.locator('#archived-notice').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    expect(await msg(bob, 'Sent after the archive').count()).toBe(1);

    // Way forward 2: archived again, a refused message goes to a new thread with the same members.
    await bob.context().setOffline(true);
    await alice.getByRole('button', { name: 'Archive thread' }).click();
    await alice.locator('#archived-notice').waitFor({ timeout: UI_TIMEOUT });
    await bob.locator('#compose').fill('Also after the archive');
    await bob.locator('#compose').press('Enter');
    await bob.context().setOffline(false);
    await waitStatus(bob, 'Also after the archive', 'rejected');
    await msg(bob, 'Also after the archive').getByRole('button', { name: 'Send it in a new thread' }).click();
    await bob.locator('#thread-title', { hasText: 'Launch plan (continued)' }).waitFor({ timeout: UI_TIMEOUT });
    await waitStatus(bob, 'Also after the archive', 'confirmed');
    await alice.locator('#thread-list a', { hasText: 'Launch plan (continued)' }).waitFor({ timeout: UI_TIMEOUT });
  });

  it('a stream started in one tab grows in a second tab and on another device, then is one mirrored message', async () => {
    const { id } = await relay.createThread(await relay.token('alice'), ['bob'], 'Streamed answer', { mirror: true });
    for (const p of [alice, bob]) {
      await p.evaluate((h) => (location.hash = h), `#/t/${id}`);
      await p.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    }
    const tab2 = await alice.context().newPage();
    await tab2.goto(`${relay.url}/#/t/${id}`);
    await tab2.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    await alice.evaluate(() => {
      const s = (window as any).skeinApp.view.startStream();
      s.append('Streaming ');
      (window as any).stream = s;
    });
    for (const p of [tab2, bob]) await p.locator('#timeline li.stream', { hasText: 'Streaming' }).waitFor({ timeout: UI_TIMEOUT });
    await alice.evaluate(() => (window as any).stream.append('across tabs and devices'));
    for (const p of [tab2, bob]) {
      await expect.poll(() => p.locator('#timeline li.stream .text').textContent(), { timeout: UI_TIMEOUT }).toBe('Streaming across tabs and devices');
      expect(await p.locator('#timeline li.stream').getAttribute('data-status')).toBe('streaming');
    }
    const finalId: string = await alice.evaluate(() => (window as any).stream.finish());
    for (const p of [tab2, bob]) {
      await waitStatus(p, 'Streaming across tabs and devices', 'confirmed');
      expect(await p.locator('#timeline li.stream').count()).toBe(0);
    }
    const caps = (await relay.api('GET', '/v1/capabilities')).body.atproto;
    const records = (await net.listRecords(caps.did)).filter((r) => r.rkey === finalId);
    expect(records.map((r) => r.value.text)).toEqual(['Streaming across tabs and devices']);
    await tab2.close();
  });

  it('no WebSocket URL the app opened, and no console line, carried a token: only single-use tickets', async () => {
    // Through the outage above the app reconnected many times, in several tabs.
    const syncUrls = socketUrls.filter((u) => new URL(u).pathname.startsWith('/v1/sync/'));
    const eventUrls = socketUrls.filter((u) => new URL(u).pathname === '/v1/events');
    expect(syncUrls.length).toBeGreaterThan(2);
    expect(eventUrls.length).toBeGreaterThan(2);
    for (const u of socketUrls) {
      expect(new URL(u).searchParams.has('token')).toBe(false);
      expect(new URL(u).searchParams.get('ticket')).toBeTruthy();
    }
    for (const line of consoleLines) expect(line).not.toMatch(/[?&]token=/);
  });

  it('sign-out clears the local data of that user', async () => {
    const before = await bob.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    expect(before.some((n) => n?.includes('bob'))).toBe(true);
    await bob.getByRole('button', { name: 'Sign out' }).click();
    await bob.getByLabel('Your name').waitFor({ timeout: UI_TIMEOUT });
    const after = await bob.evaluate(async () => ({
      dbs: (await indexedDB.databases()).map((d) => d.name).filter((n) => n?.includes('bob')),
      keys: Object.keys(localStorage).filter((k) => k.includes('bob')),
    }));
    expect(after).toEqual({ dbs: [], keys: [] });
  });
});
