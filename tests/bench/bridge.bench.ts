/**
 * AT write bridge benchmark, against one real reference PDS (dev-env, in this process):
 *   - raw applyWrites: 200-write batches and one-at-a-time createRecord, straight to the PDS;
 *   - the bridge: a burst of messages through a real relay process → mirrored records/s;
 *   - sequenced → confirmed latency (p50/p99) at a steady send rate, seen by a stock client.
 * Prints figures; asserts nothing about speed.
 */
import { AtpAgent } from '@atproto/api';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';
import type { CanonInfo } from '../../shared/schema.ts';
import { AtNetwork } from '../helpers/at-network.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';

const BURST = Number(process.env.BENCH_BRIDGE_MESSAGES ?? 2000);
const STEADY_RATE = Number(process.env.BENCH_BRIDGE_RATE ?? 100); // messages/s
const STEADY_SECONDS = Number(process.env.BENCH_BRIDGE_SECONDS ?? 10);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

function record(i: number, thread: string) {
  return { $type: MESSAGE_NSID, thread, author: 'bench', text: `raw message ${i}`, seq: i + 1, sentAt: new Date().toISOString() };
}

async function rawApplyWrites(net: AtNetwork): Promise<{ batched: number; single: number }> {
  const acct = await net.createAccount('benchraw');
  const agent = new AtpAgent({ service: net.url });
  await agent.login({ identifier: acct.handle, password: acct.password });
  const did = agent.session!.did;
  let t = performance.now();
  for (let i = 0; i < BURST; i += 200) {
    const n = Math.min(200, BURST - i);
    await agent.com.atproto.repo.applyWrites({
      repo: did,
      writes: Array.from({ length: n }, (_, k) => ({
        $type: 'com.atproto.repo.applyWrites#create' as const,
        collection: MESSAGE_NSID,
        rkey: `raw${String(i + k).padStart(8, '0')}`,
        value: record(i + k, 'raw'),
      })),
    });
  }
  const batched = BURST / ((performance.now() - t) / 1000);
  const singles = 100;
  t = performance.now();
  for (let i = 0; i < singles; i++) {
    await agent.com.atproto.repo.createRecord({ repo: did, collection: MESSAGE_NSID, rkey: `one${i}`, record: record(i, 'single') });
  }
  return { batched, single: singles / ((performance.now() - t) / 1000) };
}

/** Records when each message's canon reached `sent` and `confirmed`, as the client sees it. */
function watchCanon(c: TestClient) {
  const sentAt = new Map<string, number>();
  const confirmedAt = new Map<string, number>();
  c.roots.canon.observe((ev) => {
    const now = performance.now();
    for (const id of ev.keysChanged) {
      const s = (c.roots.canon.get(id) as CanonInfo | undefined)?.state;
      if (s === 'sent' && !sentAt.has(id)) sentAt.set(id, now);
      if (s === 'confirmed' && !confirmedAt.has(id)) {
        confirmedAt.set(id, now);
        if (!sentAt.has(id)) sentAt.set(id, now);
      }
    }
  });
  return { sentAt, confirmedAt };
}

export async function run(): Promise<void> {
  const net = await AtNetwork.start();
  try {
    const raw = await rawApplyWrites(net);
    const acct = await net.createAccount('benchbridge');
    const relay = await startRelay({
      SKEIN_ATPROTO_SERVICE: net.url,
      SKEIN_ATPROTO_IDENTIFIER: acct.handle,
      SKEIN_ATPROTO_PASSWORD: acct.password,
      SKEIN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    });
    try {
      await relay.waitForLog((l) => l.event === 'bridge_logged_in', 30_000);
      const token = await relay.token('alice');

      // Burst: all messages at once; throughput = messages / (first send → last confirmed).
      const burst = await relay.createThread(token, [], 'bench burst', { mirror: true });
      const c = connectClient(relay.wsUrl, burst.id, token, 'alice');
      await synced(c);
      const w = watchCanon(c);
      const t0 = performance.now();
      for (let i = 0; i < BURST; i++) c.send(`bench message ${i}`);
      await c.until(() => w.confirmedAt.size >= BURST, 'burst confirmed', 600_000);
      const bridgeRate = BURST / ((performance.now() - t0) / 1000);
      c.destroy();

      // Steady stream: latency from sequenced (canon `sent`) to `confirmed`.
      const steady = await relay.createThread(token, [], 'bench steady', { mirror: true });
      const s = connectClient(relay.wsUrl, steady.id, token, 'alice');
      await synced(s);
      const ws = watchCanon(s);
      const total = STEADY_RATE * STEADY_SECONDS;
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / STEADY_RATE;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing the load, not waiting for a result
        s.send(`steady message ${i}`);
      }
      await s.until(() => ws.confirmedAt.size >= total, 'steady confirmed', 600_000);
      const lat = [...ws.confirmedAt].map(([id, t]) => t - ws.sentAt.get(id)!).sort((a, b) => a - b);
      s.destroy();

      const records = await net.listRecords(acct.did);
      console.log('\n== AT write bridge (real dev-env PDS on loopback, relay as a child process) ==');
      console.log(`raw applyWrites, 200-write batches : ${raw.batched.toFixed(0)} records/s (${BURST} records)`);
      console.log(`raw createRecord, one at a time    : ${raw.single.toFixed(0)} records/s (100 records)`);
      console.log(`bridge, burst of ${BURST} messages    : ${bridgeRate.toFixed(0)} mirrored messages/s (send → all confirmed)`);
      console.log(
        `bridge latency sequenced→confirmed at ${STEADY_RATE} msg/s for ${STEADY_SECONDS}s: ` +
          `p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms`,
      );
      console.log(`records in the relay's repo: ${records.length} (expected ${BURST + total})`);
    } finally {
      if (process.env.BENCH_LOG_LEVEL === 'debug') {
        const batches = relay.logs.filter((l) => l.event === 'bridge_batch').map((l) => `${l.writes}:${l.ms}`);
        console.log('batches (writes:ms):', batches.join(' '));
      }
      await relay.stop();
    }
  } finally {
    await net.close();
  }
}
