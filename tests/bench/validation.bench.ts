/**
 * Benchmark: cost of the update policy (server/room/policy/update-policy.ts) per validated update,
 * with 1k and 100k messages already in the thread. The policy should cost what the
 * update costs, not what the document costs.
 *
 * Run: npm run bench   (or: npx tsx tests/bench/validation.ts)
 */
import * as Y from 'yjs';
import { type MessageRecord, threadRoots } from '../../shared/schema.ts';
import { checkUpdate } from '../../server/room/policy/update-policy.ts';
import { benchRecord as rec, relayThread } from './relay-thread.ts';

/** A relay document with `n` messages from 50 writers, canon for each, and receipts. */
function thread(n: number) {
  const { doc, roots } = relayThread(n, 50);
  // Mirrored to AT: every canon entry overwritten once, so the relay holds n deletions.
  doc.transact(() => {
    for (let i = 0; i < n; i++) roots.canon.set(rec(i, '').id, { seq: i + 1, sentAt: 1, state: 'confirmed' });
  });
  return { doc, roots };
}

function time(label: string, iterations: number, fn: () => void): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - t0) * 1000) / iterations;
  console.log(`  ${label.padEnd(52)} ${us.toFixed(1).padStart(8)} µs/update`);
  return us;
}

export async function run(): Promise<void> {
  console.log('update policy: µs per validated update (checkUpdate only, no apply)');
  for (const n of [1_000, 100_000]) {
    const built = performance.now();
    const relay = thread(n);
    console.log(` thread with ${n.toLocaleString('en')} messages (built in ${Math.round(performance.now() - built)} ms)`);
    const state = Y.encodeStateAsUpdate(relay.doc);
    /** The update one change makes on a fresh replica of the thread. */
    const capture = (change: (r: ReturnType<typeof threadRoots>) => void): Uint8Array => {
      const client = new Y.Doc();
      Y.applyUpdate(client, state);
      let out: Uint8Array | null = null;
      client.on('update', (u: Uint8Array) => (out = u));
      client.transact(() => change(threadRoots(client)));
      return out!;
    };
    const ctx = {
      doc: relay.doc,
      roots: relay.roots,
      userId: 'alice',
      maxTextLength: 10_000,
      isKnownMessageId: (id: string) => relay.roots.canon.has(id),
    };
    const one = capture((r) => r.messages.insert(r.messages.length, [rec(n + 1, 'alice')]));
    const receipt = capture((r) => r.receipts.set(`${rec(n - 1, '').id}|alice`, { readAt: Date.now() }));
    const ten = capture((r) => {
      for (let i = 2; i < 12; i++) r.messages.insert(r.messages.length, [rec(n + i, 'alice')]);
    });
    // A reconnecting client's sync step 2: one new message plus its whole delete set.
    const replica = new Y.Doc();
    Y.applyUpdate(replica, state);
    threadRoots(replica).messages.insert(threadRoots(replica).messages.length, [rec(n + 20, 'alice')]);
    const step2 = Y.encodeStateAsUpdate(replica, Y.encodeStateVector(relay.doc));
    for (const [u, what, iterations] of [
      [one, 'one message', 5_000],
      [receipt, 'receipt', 5_000],
      [ten, '10 messages in one update', 5_000],
      [step2, 'sync step 2: 1 message + full delete set', n > 10_000 ? 20 : 500],
    ] as const) {
      const v = checkUpdate(ctx, u);
      if (!v.ok) throw new Error(`bench update refused: ${JSON.stringify(v)}`);
      time(`${what} (${u.byteLength} bytes)`, iterations, () => checkUpdate(ctx, u));
    }
  }
}
