/**
 * Authors of sealed messages that an update's edits or deletion markers name
 * (docs/design/message-lifecycle.md, "Generations"): the policy is synchronous and the live
 * document no longer holds a sealed message's record, so the room looks the authors up in
 * the message rows before it admits a batch.
 */
import * as Y from 'yjs';
import { parseEditKey } from '../../shared/message-lifecycle.ts';
import { Roots } from '../../shared/schema.ts';
import type { Store } from '../store/store.ts';
import type { DecodedUpdate } from './policy/update-policy.ts';

/** Message ids named by `edits` / `redactions` keys of the decoded updates (undecodable ones, null, are skipped: the policy refuses them). */
export function lifecycleIds(updates: Iterable<DecodedUpdate | null>): Set<string> {
  const ids = new Set<string>();
  for (const u of updates) {
    if (!u) continue;
    for (const s of u.structs) {
      if (!(s instanceof Y.Item) || s.parentSub === null) continue;
      const parent = s.parent as unknown;
      if (parent === Roots.edits) {
        const k = parseEditKey(s.parentSub);
        if (k) ids.add(k.messageId);
      } else if (parent === Roots.redactions) ids.add(s.parentSub);
    }
  }
  return ids;
}

/** A bounded cache of sealed messages' authors, filled from the store before admission. */
export class SealedAuthors {
  private readonly authors = new Map<string, string>();

  constructor(private readonly max = 10_000) {}

  get(id: string): string | undefined {
    return this.authors.get(id);
  }

  /** Loads the authors of `ids` the cache and `known` (the live document) lack. */
  async load(store: Store, threadId: string, ids: Iterable<string>, known: (id: string) => boolean): Promise<void> {
    const missing = [...ids].filter((id) => !this.authors.has(id) && !known(id));
    if (missing.length === 0) return;
    for (const m of await store.getMessages(threadId, missing)) {
      if (this.authors.size >= this.max) this.authors.delete(this.authors.keys().next().value!);
      this.authors.set(m.id, m.authorId);
    }
  }
}
