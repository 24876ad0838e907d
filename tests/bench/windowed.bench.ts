/**
 * Threads without a size limit (issue #14): the relay side of a 1,000,000-message thread in
 * generations of 1,000, next to today's layout (one document) at 100,000 messages.
 * Measured: relay open (its `doc_loaded` ms and a stock client's connect → synced), the
 * relay heap held for the active thread (after GC) and after it is left, a reconnect's sync
 * bytes after 10 new messages, a back-pagination page, and bytes per message at rest.
 *
 *   npm run bench -- windowed            (BENCH_WINDOWED_MESSAGES=1000000, BENCH_TODAY_MESSAGES=100000)
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as Y from 'yjs';
import { SqliteStore } from '../../server/store/sqlite-store.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';
import { exposeGc, heapMiB } from './relay-heap.ts';
import { bulkLoad } from './windowed/bulk-load.ts';

const WINDOWED = Number(process.env.BENCH_WINDOWED_MESSAGES ?? 1_000_000);
const TODAY = Number(process.env.BENCH_TODAY_MESSAGES ?? 100_000);
const PER_GENERATION = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  messages: number;
  loadS: number;
  openMs: number;
  syncedMs: number;
  heapActiveMiB: number;
  heapLeftMiB: number;
  reconnectBytes: number;
  liveDocBytes: number;
  pageMs: number;
  bytesPerMessage: number;
}

function dbBytes(dir: string): number {
  const db = new Database(join(dir, 'skein.sqlite'));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return readdirSync(dir).filter((f) => f.startsWith('skein.sqlite')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

async function measure(label: string, messages: number, perGeneration: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-windowed-'));
  const env = { ...exposeGc(), SKEIN_LOG_LEVEL: 'info', SKEIN_IDLE_UNLOAD_MS: '1000', SKEIN_GENERATION_MESSAGES: String(perGeneration), SKEIN_MAX_MESSAGES_PER_SECOND: '100000', SKEIN_MESSAGE_BURST: '100000', SKEIN_MAX_BUFFERED_BYTES: String(512 * 1_048_576), SKEIN_MAX_BACKLOG_BYTES: String(256 * 1_048_576), SKEIN_BACKLOG_BUDGET: '10000000', SKEIN_ROLL_MIN_INTERVAL_MS: '0' };
  const relay = new RelayProcess(dir, env);
  try {
    return await measureOn(relay, dir, label, messages, perGeneration);
  } catch (err) {
    console.log(`  ${label} failed; relay log tail:\n${relay.rawLog.slice(-15).join('\n')}`);
    await relay.stop();
    throw err;
  }
}

async function measureOn(relay: RelayProcess, dir: string, label: string, messages: number, perGeneration: number): Promise<Figures> {
  await relay.start();
  const token = await relay.token('alice');
  const { id } = await relay.createThread(token, ['bob'], label);
  const { id: warmId } = await relay.createThread(token, ['bob'], 'warm-up');
  await relay.stop();

  const started = performance.now();
  const store = new SqliteStore(join(dir, 'skein.sqlite'), { synchronous: 'NORMAL' });
  await bulkLoad(store, id, { messages, perGeneration, authors: ['alice', 'bob'] });
  await store.close();
  const loadS = (performance.now() - started) / 1000;
  console.log(`  ${label}: ${messages} messages bulk loaded in ${loadS.toFixed(1)} s`);

  await relay.start();
  const thread = (await relay.api('GET', `/v1/threads/${id}`, token)).body as { liveDoc: string };
  const open = async (): Promise<{ c: TestClient; openMs: number; syncedMs: number }> => {
    const from = relay.logs.length;
    const t0 = performance.now();
    const c = connectClient(relay.wsUrl, thread.liveDoc, token, 'alice');
    await synced(c, 120_000);
    const syncedMs = performance.now() - t0;
    const loaded = await relay.waitForLog((l) => l.event === 'doc_loaded', 5000, from);
    return { c, openMs: loaded.ms as number, syncedMs };
  };
  const left = async (c: TestClient) => {
    const from = relay.logs.length;
    c.destroy();
    await relay.waitForLog((l) => l.event === 'doc_unloaded', 120_000, from);
  };
  if (perGeneration === 0) {
    // Today's layout: the first open repairs canon over all history; measure the second.
    await left((await open()).c);
  }
  // A relay in service has run its code paths before: warm up on another thread.
  const warm = connectClient(relay.wsUrl, warmId, token, 'alice');
  await synced(warm);
  const warmed = Array.from({ length: 20 }, (_, i) => warm.send(`warm ${i}`));
  await warm.until(() => warmed.every((m) => warm.roots.canon.has(m.id)), 'warm-up canon');
  await left(warm);
  const rest = await heapMiB(relay);
  const { c, openMs, syncedMs } = await open();
  const other = connectClient(relay.wsUrl, thread.liveDoc, await relay.token('bob'), 'bob');
  await synced(other, 120_000);
  const heapActiveMiB = (await heapMiB(relay)) - rest;
  // Reconnect after 10 messages: what the relay sends is the diff against the offline copy.
  other.provider.disconnect();
  const before = Y.encodeStateVector(other.doc);
  const sent = Array.from({ length: 10 }, (_, i) => c.send(`while bob was away ${i}`));
  await c.until(() => sent.every((m) => c.roots.canon.has(m.id)), 'canon of 10', 60_000);
  other.provider.connect();
  await other.until(() => sent.every((m) => other.roots.canon.has(m.id)), 'bob caught up', 60_000);
  const reconnectBytes = Y.encodeStateAsUpdate(other.doc, before).byteLength;
  const liveDocBytes = Y.encodeStateAsUpdate(other.doc).byteLength;
  // One back-pagination page from the middle of history.
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) {
    const r = await relay.api('GET', `/v1/threads/${id}/messages?beforeSeq=${Math.floor(messages / 2) - i * 100}&limit=100`, token);
    if (r.status !== 200 || r.body.messages.length !== 100) throw new Error(`history page failed: ${r.status}`);
  }
  const pageMs = (performance.now() - t0) / 10;
  other.destroy();
  await left(c);
  await sleep(500);
  const heapLeftMiB = (await heapMiB(relay)) - rest;
  await relay.stop();
  return { messages: messages + 10, loadS, openMs, syncedMs, heapActiveMiB, heapLeftMiB, reconnectBytes, liveDocBytes, pageMs, bytesPerMessage: dbBytes(dir) / (messages + 10) };
}

export async function run(): Promise<void> {
  const rows: Array<[string, Figures]> = [];
  rows.push([`today (one document), ${TODAY}`, await measure('today', TODAY, 0)]);
  rows.push([`windowed (generations of ${PER_GENERATION}), ${WINDOWED}`, await measure('windowed', WINDOWED, PER_GENERATION)]);
  console.log('windowed: relay side of a long thread (one stock client opens it; a second one reconnects after 10 messages)');
  console.log('  layout, messages                          | relay open ms | connect→synced ms | heap held, active MiB | heap after left MiB | reconnect bytes | live doc bytes | page of 100 ms | bytes/msg at rest');
  for (const [name, f] of rows) {
    console.log(
      `  ${name.padEnd(42)} | ${f.openMs.toFixed(0).padStart(13)} | ${f.syncedMs.toFixed(0).padStart(17)} | ${f.heapActiveMiB.toFixed(2).padStart(21)} | ${f.heapLeftMiB.toFixed(2).padStart(19)} | ${String(f.reconnectBytes).padStart(15)} | ${String(f.liveDocBytes).padStart(14)} | ${f.pageMs.toFixed(1).padStart(14)} | ${f.bytesPerMessage.toFixed(0).padStart(17)}`,
    );
  }
}
