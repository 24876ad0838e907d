/**
 * AT ingest and relay-to-relay benchmark, against one real reference PDS + PLC (dev-env,
 * in this process) and real relay processes:
 *   - ingest: records written straight to the PDS (raw applyWrites, 10 per commit) → applied
 *     in the thread, records/s and the write → visible lag;
 *   - shared thread: alice on relay A sends at a steady rate; the A-send → B-visible latency
 *     (p50/p99) seen by a stock client on relay B, and messages/s across relays.
 * Prints figures; asserts nothing about speed.
 */
import { ulid } from 'ulid';
import type { CanonInfo } from '../../shared/schema.ts';
import { AtNetwork, type TestAccount } from '../helpers/at-network.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const INGEST = Number(process.env.BENCH_INGEST_RECORDS ?? 1000);
const RATE = Number(process.env.BENCH_SHARED_RATE ?? 20); // messages/s
const SECONDS = Number(process.env.BENCH_SHARED_SECONDS ?? 10);
const ADMIN = 'bench-admin-token-0123456789abcdef';

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function relayFor(net: AtNetwork, account: TestAccount): Promise<RelayProcess> {
  const relay = await startRelay({
    SKEIN_LOG_LEVEL: 'info',
    SKEIN_ATPROTO_SERVICE: net.url,
    SKEIN_ATPROTO_IDENTIFIER: account.handle,
    SKEIN_ATPROTO_PASSWORD: account.password,
    SKEIN_ADMIN_TOKEN: ADMIN,
    SKEIN_PLC_URL: net.plcUrl,
  });
  await relay.waitForLog((l) => l.event === 'bridge_logged_in', 30_000);
  const from = relay.logs.length;
  await relay.api('POST', '/v1/admin/federation/sources', ADMIN, {
    kind: 'PDS', name: 'bench', serviceEndpoint: net.url, isEnabled: true, allowIngest: true, rateLimitPerMinute: 1_000_000,
  });
  await relay.waitForLog((l) => l.event === 'ingest_source_connected', 30_000, from);
  return relay;
}

async function ingest(net: AtNetwork, relay: RelayProcess): Promise<void> {
  const remote = await net.createAccount('benchremote');
  const alice = await relay.token('alice');
  const { id } = await relay.createThread(alice, [], 'ingest bench');
  await relay.api('POST', `/v1/threads/${id}/remotes`, alice, { did: remote.did });
  const c = connectClient(relay.wsUrl, id, alice, 'alice');
  await synced(c);
  const written = new Map<string, number>();
  const seen = new Map<string, number>();
  c.roots.canon.observe((e) => {
    for (const k of e.keysChanged) if (!seen.has(k)) seen.set(k, performance.now());
  });
  const recs = Array.from({ length: INGEST }, (_, i) => ({
    rkey: ulid(),
    value: { thread: id, author: 'carol', text: `ingested ${i}`, seq: 1, sentAt: new Date().toISOString() },
  }));
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i += 10) {
    const batch = recs.slice(i, i + 10);
    await net.writeRecords(remote, batch, 10);
    const now = performance.now();
    for (const r of batch) written.set(r.rkey, now);
  }
  const writeS = (performance.now() - t0) / 1000;
  await c.until(() => recs.every((r) => seen.has(r.rkey)), 'all ingested', 600_000);
  const total = (Math.max(...seen.values()) - t0) / 1000;
  const lags = recs.map((r) => seen.get(r.rkey)! - written.get(r.rkey)!).sort((a, b) => a - b);
  console.log(
    `ingest: ${INGEST} records in ${INGEST / 10} commits — PDS accepted them at ${(INGEST / writeS).toFixed(0)} records/s; ` +
      `applied in the thread at ${(INGEST / total).toFixed(0)} records/s; write → visible p50 ${pct(lags, 50).toFixed(0)} ms, p99 ${pct(lags, 99).toFixed(0)} ms`,
  );
  c.destroy();
}

async function shared(net: AtNetwork, a: RelayProcess, b: RelayProcess, didB: string): Promise<void> {
  const alice = await a.token('alice');
  const bob = await b.token('bob');
  const origin = (await a.api('POST', '/v1/threads', alice, { title: 'bench', mirror: true })).body;
  await a.api('POST', `/v1/threads/${origin.id}/remotes`, alice, { did: didB });
  const follow = (await b.api('POST', '/v1/threads', bob, { title: 'bench', follow: origin.atUri })).body;
  const ca = connectClient(a.wsUrl, origin.id, alice, 'alice');
  const cb = connectClient(b.wsUrl, follow.id, bob, 'bob');
  await Promise.all([synced(ca), synced(cb)]);
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  cb.roots.canon.observe((e) => {
    for (const k of e.keysChanged) {
      const t = sentAt.get(k);
      if (t !== undefined && (cb.roots.canon.get(k) as CanonInfo).seq) {
        lat.push(performance.now() - t);
        sentAt.delete(k);
      }
    }
  });
  const n = RATE * SECONDS;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const m = ca.send(`across ${i}`);
    sentAt.set(m.id, performance.now());
  }
  await cb.until(() => lat.length === n, 'all on B', 600_000);
  const span = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  console.log(
    `shared thread: ${n} messages at ${RATE}/s from A → visible on B: p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms; ` +
      `${(n / span).toFixed(1)} messages/s across relays`,
  );
  ca.destroy();
  cb.destroy();
}

export async function run(): Promise<void> {
  const net = await AtNetwork.start();
  const [accA, accB] = [await net.createAccount('bencha'), await net.createAccount('benchb')];
  const [a, b] = await Promise.all([relayFor(net, accA), relayFor(net, accB)]);
  try {
    await ingest(net, a);
    await shared(net, a, b, accB.did);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await net.close();
  }
}
