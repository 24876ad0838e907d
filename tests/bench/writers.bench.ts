/**
 * Benchmark: what one Yjs transaction costs the relay by the number of writers (client ids)
 * in a thread's live document: the relay's canon write for one stored message (`writeCanon`,
 * with the room's update listener, as a commit runs it) and one member's message update
 * applied (as admission stages it). Yjs builds state vectors of every client in the document
 * for each transaction (before, after, and again to encode its update), so both grow with the
 * writers a thread has seen in its generation: every app session that writes (a message, a
 * read receipt) is a new client id. The compare bench's threads have ten writers each.
 *
 * Run: npm run bench -- writers   (BENCH_WRITERS=10,100,1000)
 */
import * as Y from 'yjs';
import { threadRoots } from '../../shared/schema.ts';
import { writeCanon } from '../../server/room/relay-writes.ts';
import type { StoredMessage } from '../../server/store/store.ts';
import { benchRecord as rec, relayThread } from './relay-thread.ts';

function time(iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < 500; i++) fn(i); // warm up
  const t0 = performance.now();
  for (let i = 500; i < iterations + 500; i++) fn(i);
  return ((performance.now() - t0) * 1000) / iterations;
}

export async function run(): Promise<void> {
  const counts = (process.env.BENCH_WRITERS ?? '10,100,1000').split(',').map(Number);
  const n = 5_000;
  console.log('one Yjs transaction in the relay, by writers in the live document: µs each');
  console.log(`  ${'writers'.padEnd(8)} ${'canon write'.padStart(12)} ${'member update applied'.padStart(22)}`);
  for (const writers of counts) {
    // Each writer wrote one message.
    const { doc, roots } = relayThread(writers, writers);
    // The room listens for its updates (the commit's log row); Yjs encodes one per transaction.
    doc.on('update', () => {});
    let seq = writers;
    const stored = (i: number): StoredMessage => ({ ...rec(writers + i, 'relay'), threadId: 't', seq: ++seq, sentAt: 1, state: 'sent' });
    const canonUs = time(n, (i) => writeCanon(doc, roots, [stored(i)]));
    // One member's messages, each its own update, as its client sends them.
    const member = new Y.Doc();
    Y.applyUpdate(member, Y.encodeStateAsUpdate(doc));
    const updates: Uint8Array[] = [];
    member.on('update', (u: Uint8Array) => updates.push(u));
    const mr = threadRoots(member);
    for (let i = 0; i < n + 500; i++) mr.messages.insert(mr.messages.length, [rec(1_000_000 + i, 'alice')]);
    const applyUs = time(n, (i) => Y.applyUpdate(doc, updates[i]!));
    console.log(`  ${String(writers).padEnd(8)} ${canonUs.toFixed(1).padStart(12)} ${applyUs.toFixed(1).padStart(22)}`);
  }
}
