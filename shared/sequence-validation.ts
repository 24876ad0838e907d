/**
 * Deterministic sync validation of a locally held thread against the relay's
 * last known sequence number (DESIGN.md, "The client").
 */

export type SequenceValidation =
  | 'validated'
  | 'backend_seq_unknown'
  | 'gap_detected'
  | 'sequence_mismatch'
  | 'no_messages';

/**
 * @param seqs canonical sequence numbers held locally (any order, duplicates ignored)
 * @param lastKnownBackendSeq the relay's last seq for the thread, or undefined when not known yet
 */
export function validateSequence(
  seqs: Iterable<number>,
  lastKnownBackendSeq: number | undefined | null,
): SequenceValidation {
  const unique = new Set<number>();
  let min = Infinity;
  let max = -Infinity;
  for (const s of seqs) {
    if (unique.has(s)) continue;
    unique.add(s);
    if (s < min) min = s;
    if (s > max) max = s;
  }
  if (lastKnownBackendSeq === undefined || lastKnownBackendSeq === null) return 'backend_seq_unknown';
  if (unique.size === 0) return lastKnownBackendSeq === 0 ? 'validated' : 'no_messages';
  if (unique.size !== max - min + 1) return 'gap_detected';
  if (max !== lastKnownBackendSeq) return 'sequence_mismatch';
  return 'validated';
}
