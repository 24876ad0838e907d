/**
 * The built web app served by a real relay, and helpers to drive it in Chromium: a fresh
 * browser context per user, sign-in, and a thread filled with messages the way a client
 * writes them (one stock y-websocket client's offline backlog, sequenced by the relay).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ulid } from 'ulid';
import { afterAll, beforeAll } from 'vitest';
import * as Y from 'yjs';
import { buildApp } from '../../client/app/build.ts';
import { threadRoots } from '../../shared/schema.ts';
import { launchChromium } from './browser.ts';
import { type RelayProcess, startRelay } from './relay-process.ts';
import { connectClient, waitUntil } from './y-client.ts';

/** A relay serving a fresh build of the app (or the build `env.SKEIN_STATIC_DIR` names). */
export async function appRelay(env: Record<string, string> = {}): Promise<RelayProcess> {
  const staticDir = env.SKEIN_STATIC_DIR ?? (await buildApp(mkdtempSync(join(tmpdir(), 'skein-app-'))));
  return startRelay({ SKEIN_STATIC_DIR: staticDir, ...env });
}

/** The app's relay and one Chromium, shared by a test file's tests. */
export interface AppFixture {
  /** Started before the file's first test, stopped after its last. */
  readonly relay: RelayProcess;
  readonly browser: Browser;
}

/**
 * Starts `appRelay(env)` (then `ready`, e.g. a wait for the demo bot) and Chromium before the
 * file's first test, and stops both after its last. Call at the top level of a test file;
 * `env` may be a function when it needs work first (a build of its own).
 */
export function appFixture(
  env: Record<string, string> | (() => Promise<Record<string, string>>) = {},
  opts: { ready?: (relay: RelayProcess) => Promise<unknown>; timeoutMs?: number } = {},
): AppFixture {
  let relay: RelayProcess | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    relay = await appRelay(typeof env === 'function' ? await env() : env);
    await opts.ready?.(relay);
    browser = await launchChromium();
  }, opts.timeoutMs ?? 180_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the app fixture starts in beforeAll');
    return v;
  };
  return {
    get relay() {
      return started(relay);
    },
    get browser() {
      return started(browser);
    },
  };
}

/** Signs `name` in, in a new context of `browser` with this viewport. */
export async function signInApp(browser: Browser, relay: RelayProcess, name: string, viewport = { width: 1200, height: 760 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(relay.url + '/');
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#thread-list', { timeout: 30_000 });
  return page;
}

/**
 * Creates a thread of `author` (with `others`) holding `count` messages, written offline
 * and delivered in one sync step 2 (the backlog a reconnecting client sends), and waits
 * until the relay sequenced them all.
 */
export async function filledThread(relay: RelayProcess, author: string, others: string[], count: number, title = 'long thread'): Promise<string> {
  const token = await relay.token(author);
  const { id } = await relay.createThread(token, others, title);
  const doc = new Y.Doc();
  const messages = threadRoots(doc).messages;
  const t0 = Date.now() - count * 1000;
  // One transaction per 1,000 appends: one huge transaction costs Yjs memory quadratic in it.
  for (let i = 0; i < count; i += 1000) {
    doc.transact(() => {
      for (let j = i; j < Math.min(count, i + 1000); j++) {
        messages.insert(messages.length, [{ id: ulid(), authorId: author, text: `message ${j + 1} of ${count}`, clientSentAt: t0 + j * 1000 }]);
      }
    });
  }
  const c = connectClient(relay.wsUrl, id, token, author, doc);
  try {
    const canon = threadRoots(doc).canon;
    await waitUntil(doc, () => canon.size >= count, `${count} messages sequenced`, 120_000);
  } finally {
    c.destroy();
  }
  return id;
}
