/**
 * Pure rules of the SDK's side of windowed threads (docs/design/windowed-threads.md): which
 * pending messages a client re-appends when the generation it wrote into was sealed, and
 * which seq ranges a local window misses. Document names are in shared/generation.ts.
 */
import type { MessageRecord } from './schema.ts';

/**
 * The records of a sealed generation's local copy to append again into the new live
 * document: those without canon (pending) whose id the relay does not have (`relayHas`:
 * canonical history fetched after the last seq this copy knew) and the new live document
 * does not hold yet (`liveHas`: a rebase already done, by another tab or before a crash).
 * Keeps array order (the author's order) and each id once.
 */
export function recordsToReappend(
  records: Iterable<MessageRecord>,
  hasCanon: (id: string) => boolean,
  relayHas: (id: string) => boolean,
  liveHas: (id: string) => boolean,
): MessageRecord[] {
  const seen = new Set<string>();
  const out: MessageRecord[] = [];
  for (const r of records) {
    if (!r || typeof r.id !== 'string' || seen.has(r.id)) continue;
    seen.add(r.id);
    if (hasCanon(r.id) || relayHas(r.id) || liveHas(r.id)) continue;
    out.push(r);
  }
  return out;
}

/** An inclusive range of seqs. */
export interface SeqRange {
  from: number;
  to: number;
}

/**
 * The seq ranges in `from..to` (inclusive) not in `seqs`, ascending: what a window over
 * history + live canon must fetch to be gap-free up to the relay's last seq.
 */
export function missingRanges(seqs: Iterable<number>, from: number, to: number): SeqRange[] {
  if (to < from) return [];
  const sorted = [...new Set(seqs)].filter((s) => s >= from && s <= to).sort((a, b) => a - b);
  const out: SeqRange[] = [];
  let next = from;
  for (const s of sorted) {
    if (s > next) out.push({ from: next, to: s - 1 });
    next = s + 1;
  }
  if (next <= to) out.push({ from: next, to });
  return out;
}
