/**
 * `skein/react`'s useThread in real Chromium against a real relay: a React page renders a
 * thread's messages live with their statuses, and sends through the hook (issue 16.4).
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser } from '../../client/app/build.ts';
import { launchChromium } from '../helpers/browser.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { canonicalOrder, connectClient, synced } from '../helpers/y-client.ts';

const PAGE = new URL('./react-page/', import.meta.url).pathname;
let relay: RelayProcess;
let browser: Browser;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-react-'));
  mkdirSync(join(dir, 'react-test'));
  await bundleForBrowser(join(PAGE, 'main.ts'), join(dir, 'react-test', 'main.js'));
  copyFileSync(join(PAGE, 'index.html'), join(dir, 'react-test', 'index.html'));
  relay = await startRelay({ SKEIN_STATIC_DIR: dir });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});

describe('useThread (React)', () => {
  it('renders messages live with their statuses and sends through the hook', async () => {
    const alice = await relay.token('alice');
    const bob = await relay.token('bob');
    const { id } = await relay.createThread(alice, ['bob'], 'react');
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await page.goto(`${relay.url}/react-test/?user=alice&token=${alice}&thread=${id}`);
    await page.locator('#sync', { hasText: 'online' }).waitFor({ timeout: 30_000 });

    // Another member writes: the hook re-renders with the message, sequenced by the relay.
    const b = connectClient(relay.wsUrl, id, bob, 'bob');
    await synced(b);
    b.send('hello from bob');
    await page.locator('li[data-status="sent"]', { hasText: 'bob: hello from bob' }).waitFor({ timeout: 30_000 });

    // The page sends through the hook: pending at once, then sent with the next seq.
    await page.locator('#text').fill('hi bob, from react');
    await page.getByRole('button', { name: 'Send' }).click();
    const mine = page.locator('li', { hasText: 'alice: hi bob, from react' });
    await mine.waitFor({ timeout: 30_000 });
    await page.locator('li[data-status="sent"]', { hasText: 'alice: hi bob, from react' }).waitFor({ timeout: 30_000 });
    expect(await mine.getAttribute('data-seq')).toBe('2');
    await b.until(() => canonicalOrder(b).length === 2, 'bob has both');
    expect(b.roots.messages.toJSON().map((m) => m.text)).toEqual(['hello from bob', 'hi bob, from react']);
    b.destroy();
    await page.context().close();
  });
});
