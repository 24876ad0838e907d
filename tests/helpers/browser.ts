/**
 * Browser-test plumbing: builds the SDK test page with esbuild into a temporary
 * directory (served by the relay via SKEIN_STATIC_DIR) and launches Debian's Chromium
 * through playwright-core (the path tests/setup/chromium.global.ts found, or CHROMIUM_PATH).
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleForBrowser } from '../../client/app/build.ts';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { chromiumPath } from './chromium.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Builds client/test-page into `<dir>/sdk-test/`; returns `dir` (the static root). */
export async function buildTestPage(dir = mkdtempSync(join(tmpdir(), 'skein-static-'))): Promise<string> {
  const out = join(dir, 'sdk-test');
  mkdirSync(out, { recursive: true });
  await bundleForBrowser(join(ROOT, 'client/test-page/main.ts'), join(out, 'main.js'));
  copyFileSync(join(ROOT, 'client/test-page/index.html'), join(out, 'index.html'));
  return dir;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Opens the test page as `user` on `threadId` and waits until the local copy rendered. */
export async function openThreadPage(
  context: BrowserContext,
  relayUrl: string,
  user: string,
  threadId: string,
  extra = '',
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${relayUrl}/sdk-test/?user=${encodeURIComponent(user)}&thread=${encodeURIComponent(threadId)}${extra}`);
  await waitReady(page);
  return page;
}

export async function waitReady(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const s = (window as any).skein;
    if (s?.error) throw new Error(s.error);
    return s?.ready === true;
  });
}
