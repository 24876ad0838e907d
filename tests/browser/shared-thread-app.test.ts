/**
 * The web app on two relays that share a thread through AT: real Chromium, two relay
 * processes serving the built app, one dev-env PDS + PLC. alice (relay A) shares a thread by
 * its at:// URI; bob (relay B) joins it by pasting the URI; messages show their origin.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { AtNetwork, type TestAccount } from '../helpers/at-network.ts';
import { appRelay, signInApp } from '../helpers/app-browser.ts';
import { launchChromium } from '../helpers/browser.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const ADMIN = 'admin-token-for-the-app-test-0123456789';
const UI_TIMEOUT = 60_000;
/**
 * Two relays boot AT services (bridge login, ingest connected) inside the test, as the
 * `shared-thread` and `local-pds` suites do, which get the same 180 s: 11–32 s here, but one
 * clean-clone run (ci-6, 2026-12-06) spent the suite-wide 60 s without saying where.
 */
const TEST_TIMEOUT = 180_000;
let net: AtNetwork;
let browser: Browser;
const relays: RelayProcess[] = [];

async function relayFor(account: TestAccount): Promise<RelayProcess> {
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
  expect(src.status).toBe(201);
  await relay.waitForLog((l) => l.event === 'ingest_source_connected', 60_000, from);
  return relay;
}

beforeAll(async () => {
  net = await AtNetwork.start();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(relays.map((r) => r.stop()));
  await net?.close();
});

const msg = (page: Page, text: string) => page.locator('li.msg', { hasText: text });

describe('the app on two relays sharing a thread', () => {
  it('alice shares a thread by its URI, bob joins it by pasting the URI, and each sees the other with their origin', async () => {
    // Should it fail, say where each relay was (relay logs carry no message text).
    onTestFailed(() => {
      relays.forEach((r, i) => console.error(`relay ${i + 1} of ${relays.length}, last log lines:\n${r.rawLog.slice(-30).join('\n')}`));
    });
    const [accA, accB] = [await net.createAccount('appa'), await net.createAccount('appb')];
    const [a, b] = await Promise.all([relayFor(accA), relayFor(accB)]);
    const alice = await signInApp(browser, a, 'alice', { width: 1200, height: 760 });
    const bob = await signInApp(browser, b, 'bob', { width: 390, height: 844 });

    await alice.locator('#new-thread-toggle').click();
    await alice.getByLabel('Title', { exact: true }).fill('Across relays');
    const publish = alice.getByLabel(/Yes – also publish every message as a public AT record/);
    await expect.poll(() => publish.isEnabled(), { timeout: UI_TIMEOUT }).toBe(true);
    await publish.check();
    await alice.getByRole('button', { name: 'Create thread' }).click();
    // The header is compact: one "Public on AT" line; the URI and the rest are behind it.
    const summary = alice.locator('#at-details > summary');
    await summary.waitFor({ timeout: UI_TIMEOUT });
    const uriEl = alice.locator('#thread-at-uri');
    await expect.poll(() => uriEl.textContent(), { timeout: UI_TIMEOUT }).toMatch(/^at:\/\//);
    expect(await uriEl.isVisible()).toBe(false);
    expect(await alice.locator('#remote-did').isVisible()).toBe(false);
    expect((await alice.locator('.thread-head').boundingBox())!.height).toBeLessThan(130);
    // The keyboard opens it.
    await summary.focus();
    await alice.keyboard.press('Enter');
    await uriEl.waitFor({ timeout: UI_TIMEOUT });
    const uri = (await uriEl.textContent())!;
    expect(uri).toMatch(new RegExp(`^at://${accA.did}/dev\\.skein\\.chat\\.thread/`));
    expect(await alice.locator('#copy-at-uri').isVisible()).toBe(true);

    // alice lets relay B's repo into the thread.
    await alice.getByLabel('Let another relay in (its DID)').fill(accB.did);
    await alice.locator('#add-remote').click();
    await expect.poll(() => alice.locator('.remote-members').innerText(), { timeout: UI_TIMEOUT }).toContain(`Other relays in this thread: ${accB.did}`);

    await bob.locator('#new-thread-toggle').click();
    await bob.getByLabel('Title', { exact: true }).fill('Joined');
    const follow = bob.getByLabel('Join a thread of another relay (optional)');
    await expect.poll(() => follow.isEnabled(), { timeout: UI_TIMEOUT }).toBe(true);
    await follow.fill(uri);
    await bob.getByRole('button', { name: 'Create thread' }).click();
    await bob.locator('#compose').waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => bob.locator('#thread-at-uri').textContent(), { timeout: UI_TIMEOUT }).toBe(uri);
    // Compact at phone width too: the timeline keeps most of the screen.
    expect(await bob.locator('#thread-at-uri').isVisible()).toBe(false);
    expect((await bob.locator('.thread-head').boundingBox())!.height).toBeLessThan(170);

    await alice.locator('#compose').fill('Hello from relay A');
    await alice.locator('#compose').press('Enter');
    const fromAlice = msg(bob, 'Hello from relay A');
    await fromAlice.waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => fromAlice.getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('confirmed');
    expect(await fromAlice.locator('.author').innerText()).toMatch(/^alice via did:plc:/);
    expect(await fromAlice.locator('.author').getAttribute('title')).toBe(accA.did);
    // Bob's relay lists only bob as a local member; alice, on relay A, is named beside him.
    await expect.poll(() => bob.locator('.thread-head .members').innerText(), { timeout: UI_TIMEOUT }).toMatch(/bob \(you\), alice via did:plc:/);
    // Someone else's message carries no delivery status: its origin is in the author line.
    expect(await fromAlice.locator('.status').count()).toBe(0);
    // Bob owns the joined thread on B, but alice's record is in A's repo: no Delete for it
    // (shared/roles.ts canRedact); his own messages have one (below).
    expect(await fromAlice.locator('[data-action="delete"]').count()).toBe(0);
    // The thread list names the remote author the way the timeline does.
    const author = await fromAlice.locator('.author').innerText();
    await expect
      .poll(() => bob.locator('#thread-list a', { hasText: 'Joined' }).locator('.thread-last').textContent(), { timeout: UI_TIMEOUT })
      .toBe(`${author}: Hello from relay A`);

    await bob.locator('#compose').fill('Hello back from relay B');
    await bob.locator('#compose').press('Enter');
    await msg(bob, 'Hello back from relay B').locator('[data-action="delete"]').waitFor({ state: 'attached', timeout: UI_TIMEOUT });
    const fromBob = msg(alice, 'Hello back from relay B');
    await fromBob.waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => fromBob.getAttribute('data-status'), { timeout: UI_TIMEOUT }).toBe('confirmed');
    expect(await fromBob.locator('.status').count()).toBe(0);
    expect(await fromBob.locator('.author').getAttribute('title')).toBe(accB.did);
    expect(await fromBob.locator('.author').innerText()).toMatch(/^bob via did:plc:/);
    // Own messages are still "mirrored", not "from AT".
    await expect.poll(() => msg(alice, 'Hello from relay A').locator('.status').innerText(), { timeout: UI_TIMEOUT }).toContain('Mirrored to AT');
  }, TEST_TIMEOUT);
});
