/**
 * Bytes per message at rest in the browser (issue 14): the same history of N messages held
 * in IndexedDB by the SDK in today's layout (one Yjs document, `SKEIN_GENERATION_MESSAGES=0`)
 * and windowed (generations of 1,000: the live document plus sealed messages as rows of the
 * history cache, all of them paged in with `loadOlder`). Counted logically, keys and values
 * of the thread's databases and their index entries (binary values by length, objects and
 * keys by their JSON in UTF-8), and
 * on disk: the profile's IndexedDB folder after the browser closed (LevelDB files as
 * Chromium left them, values over its blob threshold as files beside them).
 *
 *   BENCH_IDB_MESSAGES=10000 npm run bench -- idb-bytes
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Page, chromium } from 'playwright-core';
import { chromiumPath } from '../helpers/chromium.ts';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { buildTestPage, openThreadPage } from '../helpers/browser.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { bulkLoad } from './windowed/bulk-load.ts';

const MESSAGES = Number(process.env.BENCH_IDB_MESSAGES ?? 10_000);
const WORDS = 'the a to and of is it you that in we for on this be with not are have can but just so will at was what if do me my about get how think like need one there yes no ok now then when see new time make sure will thanks meeting tomorrow deploy review branch fix test later coffee lunch'.split(' ');
/** Ordinary chat-length text that does not repeat from message to message (so compression flatters neither layout). */
function chatText(i: number): string {
  let x = (i + 1) * 2654435761;
  const words: string[] = [];
  for (let n = 6 + (i % 9); n > 0; n--) {
    x = (x * 1103515245 + 12345) >>> 0;
    words.push(WORDS[x % WORDS.length]!);
  }
  return `${words.join(' ')} ${i}`;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/**
 * A ULID as the SDK makes them: 10 characters of time, 16 random (80 bits). Random parts do
 * not compress; sequential ids would flatter whichever layout compresses.
 */
function ulidLike(i: number): string {
  let time = 1_700_000_000_000 + i * 1500;
  let out = '';
  for (let k = 0; k < 10; k++, time = Math.floor(time / 32)) out = CROCKFORD[time % 32] + out;
  let x = (i + 7) * 2246822519;
  for (let k = 0; k < 16; k++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out += CROCKFORD[x >>> 27];
  }
  return out;
}

/** Logical bytes per database name (keys + values + index entries). */
type Usage = Record<string, number>;

/** Bytes of every file under `dir`. */
function diskBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? diskBytes(p) : statSync(p).size;
  }
  return total;
}

/** Sums keys and values of every object store of every database of the origin, in the page. */
const usageScript = `(async () => {
  const enc = new TextEncoder();
  const size = (v) => v instanceof ArrayBuffer ? v.byteLength : ArrayBuffer.isView(v) ? v.byteLength : enc.encode(JSON.stringify(v) ?? '').length;
  const perDb = {};
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((res, rej) => { const r = indexedDB.open(info.name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    let total = 0;
    for (const name of Array.from(db.objectStoreNames)) {
      await new Promise((res, rej) => {
        const cur = db.transaction([name]).objectStore(name).openCursor();
        cur.onerror = () => rej(cur.error);
        cur.onsuccess = () => { const c = cur.result; if (!c) return res(); total += size(c.primaryKey) + size(c.value); c.continue(); };
      });
      const os = db.transaction([name]).objectStore(name);
      for (const ix of Array.from(os.indexNames)) {
        await new Promise((res, rej) => {
          const cur = db.transaction([name]).objectStore(name).index(ix).openKeyCursor();
          cur.onerror = () => rej(cur.error);
          cur.onsuccess = () => { const c = cur.result; if (!c) return res(); total += size(c.key) + size(c.primaryKey); c.continue(); };
        });
      }
    }
    db.close();
    perDb[info.name] = total;
  }
  return perDb;
})()`;

async function measure(perGeneration: number, staticDir: string): Promise<{ thread: number; history: number; other: number; disk: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-idb-bytes-'));
  const relay = new RelayProcess(dir, { SKEIN_STATIC_DIR: staticDir, SKEIN_GENERATION_MESSAGES: String(perGeneration), SKEIN_ROLL_MIN_INTERVAL_MS: '0' });
  await relay.start();
  const alice = await relay.token('alice');
  const { id } = await relay.createThread(alice, ['bob'], 'bytes at rest');
  await relay.stop();
  const store = new SqliteStore(join(dir, 'skein.sqlite'), { synchronous: 'NORMAL' });
  await bulkLoad(store, id, { messages: MESSAGES, perGeneration, authors: ['alice', 'bob'], text: chatText, id: ulidLike });
  await store.close();
  await relay.start();
  const profile = mkdtempSync(join(tmpdir(), 'skein-idb-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page: Page = await openThreadPage(ctx, relay.url, 'alice', id);
    await page.waitForFunction(() => (window as any).skein.phases.relaySynced !== undefined, undefined, { polling: 50, timeout: 120_000 });
    // Windowed: page every sealed message into the history cache; today: the document holds them all.
    await page.evaluate(`(async () => { const v = window.skein.view; while (v.hasOlder) { if ((await v.loadOlder(500)) === 0) break; } })()`);
    await page.waitForFunction((n) => (window as any).skein.view.messages.length >= n, MESSAGES, { polling: 100, timeout: 120_000 });
    await page.waitForTimeout(1500); // y-indexeddb and the render cache write after a delay
    const usage = (await page.evaluate(usageScript)) as Usage;
    let thread = 0;
    let history = 0;
    let other = 0;
    for (const [name, bytes] of Object.entries(usage)) {
      if (name.endsWith(':history')) history += bytes;
      if (name.includes(`:thread:${id}`) || name.endsWith(':history')) thread += bytes;
      else other += bytes;
    }
    await ctx.close();
    if (process.env.BENCH_IDB_KEEP) console.log('  profile kept at', profile);
    return { thread, history, other, disk: diskBytes(join(profile, 'Default', 'IndexedDB')) };
  } finally {
    await ctx.close();
    await relay.stop();
  }
}

export async function run(): Promise<void> {
  const staticDir = await buildTestPage();
  const today = await measure(0, staticDir);
  const windowed = await measure(1000, staticDir);
  const per = (b: number) => (b / MESSAGES).toFixed(0);
  console.log(`idb-bytes: ${MESSAGES} messages held in IndexedDB by the SDK in Chromium (bytes per message)`);
  for (const [name, u] of [['today (one document)', today], ['windowed (generations of 1,000)', windowed]] as const) {
    console.log(`  ${name}: thread data ${per(u.thread)} B/msg (keys + values; of which the sealed-history cache ${(u.history / 1024).toFixed(0)} KiB); other databases ${(u.other / 1024).toFixed(0)} KiB; on disk (the origin's whole IndexedDB folder) ${per(u.disk)} B/msg`);
  }
}
