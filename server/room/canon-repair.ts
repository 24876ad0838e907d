/**
 * Which canon entries a live document lacks, from the store (the truth): the relay writes
 * canon only after a commit, so a crash in between leaves it behind, and a message
 * re-appended after a roll keeps the seq it got in a sealed generation.
 */
import type { ThreadRoots } from '../../shared/schema.ts';
import type { MessageCandidate, Store, StoredMessage } from '../store/store.ts';
import { canonOf, sameCanon } from './room-types.ts';

const PAGE = 5000;

/** Stored messages whose canon in `roots` is missing or stale (live generation only). */
export async function canonFixes(store: Store, threadId: string, baseSeq: number, roots: ThreadRoots): Promise<StoredMessage[]> {
  const { canon } = roots;
  const fixes: StoredMessage[] = [];
  // Sealed generations' messages are rows only; the live document holds newer ones.
  for (let after = baseSeq; ; ) {
    const rows = await store.listMessages(threadId, after, PAGE);
    for (const m of rows) if (!sameCanon(canon.get(m.id), canonOf(m))) fixes.push(m);
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }
  const fixed = new Set(fixes.map((m) => m.id));
  for (const r of roots.messages.toArray()) {
    if (canon.has(r.id) || fixed.has(r.id)) continue;
    const m = await store.getMessage(threadId, r.id);
    if (m && m.seq <= baseSeq) fixes.push(m);
  }
  return fixes;
}

/**
 * Candidates a commit skipped because their id was sequenced before, in a sealed generation
 * (an offline message re-appended after a roll): their canon keeps the old seq.
 */
export async function sequencedBefore(store: Store, threadId: string, candidates: MessageCandidate[], stored: StoredMessage[]): Promise<StoredMessage[]> {
  if (stored.length === candidates.length) return [];
  const ids = new Set(stored.map((m) => m.id));
  const out: StoredMessage[] = [];
  for (const c of candidates) {
    if (ids.has(c.record.id)) continue;
    const m = await store.getMessage(threadId, c.record.id).catch(() => null);
    if (m) out.push(m);
  }
  return out;
}
