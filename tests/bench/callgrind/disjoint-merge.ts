/**
 * Instructions per batch-row merge, `Y.mergeUpdates` vs the disjoint-clients copy
 * (server/room/disjoint-merge.ts), for callgrind. Run twice with different counts and take the
 * difference, so start-up, warm-up and JIT compilation cancel:
 *
 *   npx esbuild tests/bench/callgrind/disjoint-merge.ts --bundle --platform=node --format=esm --outfile=/tmp/dm.mjs
 *   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null node /tmp/dm.mjs <yjs|fast> <a|b> <n>
 *
 * Case a: one message update (~125 bytes) and the relay's canon for it (~60 bytes);
 * case b: ten authors' message updates and the relay's canon for all ten.
 */
import * as Y from 'yjs';
import { threadRoots } from '../../../shared/schema.ts';
import { concatDisjointUpdates } from '../../../server/room/disjoint-merge.ts';

function updateOf(doc: Y.Doc, change: () => void): Uint8Array {
  let out: Uint8Array | null = null;
  const f = (u: Uint8Array) => (out = u);
  doc.on('update', f);
  doc.transact(change);
  doc.off('update', f);
  return out!;
}

function batch(authors: number): Uint8Array[] {
  const relay = new Y.Doc();
  // A thread with history: new messages and canon entries carry origins, as in steady state.
  threadRoots(relay).messages.push([{ id: 'c0-m0000', authorId: 'user-0', text: 'first', clientSentAt: 1 }]);
  threadRoots(relay).canon.set('c0-m0000', { seq: 1, sentAt: 1, state: 'sent' });
  const updates: Uint8Array[] = [];
  const ids: string[] = [];
  for (let a = 0; a < authors; a++) {
    const c = new Y.Doc();
    Y.applyUpdate(c, Y.encodeStateAsUpdate(relay));
    const id = `c${a}-m0001`;
    ids.push(id);
    const u = updateOf(c, () => threadRoots(c).messages.push([{ id, authorId: `user-${a}`, text: 'hello there, a bench message, about as long, ok', clientSentAt: 1_760_000_000_000 + a }]));
    Y.applyUpdate(relay, u);
    updates.push(u);
  }
  const roots = threadRoots(relay);
  updates.push(updateOf(relay, () => ids.forEach((id, i) => roots.canon.set(id, { seq: 1000 + i, sentAt: 1_760_000_000_100, state: 'sent' }))));
  return updates;
}

const [mode = 'fast', which = 'a', n = '1000'] = process.argv.slice(2);
const updates = batch(which === 'a' ? 1 : 10);
const merge = mode === 'yjs' ? (u: Uint8Array[]) => Y.mergeUpdates(u) : (u: Uint8Array[]) => concatDisjointUpdates(u)!;
if (!merge(updates)) throw new Error('fast path did not apply');
let sink = 0;
for (let i = 0; i < 3000; i++) sink += merge(updates).length; // warm both the same way
for (let i = Number(n); i > 0; i--) sink += merge(updates).length;
console.log(JSON.stringify({ mode, which, n: Number(n), sizes: updates.map((u) => u.length), out: merge(updates).length, sink }));
