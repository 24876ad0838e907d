/**
 * Display order of a thread: canonical messages by `seq`, then pending ones
 * (no canon yet) in the author's local order. Duplicate ids keep their first copy.
 */
import type { CanonInfo, MessageRecord } from './schema.ts';

export interface OrderedMessage extends MessageRecord {
  canon?: CanonInfo;
}

/**
 * Orders `messages` (in local array order) using `canon`.
 * Canonical ones sort by `(seq, id)`; pending ones keep their relative array order.
 */
export function displayOrder(
  messages: Iterable<MessageRecord>,
  canon: (id: string) => CanonInfo | undefined,
): OrderedMessage[] {
  const seen = new Set<string>();
  const canonical: OrderedMessage[] = [];
  const pending: OrderedMessage[] = [];
  for (const m of messages) {
    if (seen.has(m.id)) continue;
    seen.add(m.id);
    const c = canon(m.id);
    if (c) canonical.push({ ...m, canon: c });
    else pending.push(m);
  }
  canonical.sort((a, b) => a.canon!.seq - b.canon!.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return canonical.concat(pending);
}
