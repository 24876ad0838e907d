/**
 * Which edits and deletions of ingested messages a room applies (design/message-lifecycle.md,
 * "AT mapping" → Ingest). The author's record changed in their repo; the relay writes the
 * same entries a member's client would (`edits`, `redactions`), in its own name, and then
 * takes the same steps as for a member's edit or deletion. Nothing is applied twice: an
 * edit already in `edits` (a replay: its key is the commit's rev) or any change of a deleted
 * message is skipped, and so is one naming a message that is not there by that author.
 */
import { editKey } from '../../shared/message-lifecycle.ts';
import type { ThreadRoots } from '../../shared/schema.ts';
import type { StoredMessage } from '../store/store.ts';
import type { IngestedChange } from './room-types.ts';

export interface ChangePlan {
  /** Writes the entries (run inside a relay transaction). */
  write(roots: ThreadRoots): void;
  /** Messages with a new revision: their rows take the current text. */
  edited: string[];
  /** Messages to redact: their marker is written (or was, before a crash) and their row is not emptied yet. */
  redact: string[];
  /** Changes skipped, with why (logged; no text). */
  skipped: Array<{ messageId: string; reason: 'unknown_message' | 'not_the_author' | 'already_deleted' | 'already_applied' }>;
}

/** Plans `changes` (in order) against the room's document and the messages' rows. */
export function planIngestedChanges(roots: ThreadRoots, rows: ReadonlyMap<string, StoredMessage>, changes: readonly IngestedChange[]): ChangePlan {
  const writes: Array<(r: ThreadRoots) => void> = [];
  const edited = new Set<string>();
  const redact = new Set<string>();
  const plan: ChangePlan = { write: (r) => writes.forEach((w) => w(r)), edited: [], redact: [], skipped: [] };
  for (const c of changes) {
    const row = rows.get(c.messageId);
    const skip = (reason: ChangePlan['skipped'][number]['reason']) => plan.skipped.push({ messageId: c.messageId, reason });
    if (!row) skip('unknown_message');
    else if (row.authorId !== c.authorId) skip('not_the_author');
    else if (row.redacted || redact.has(c.messageId)) skip('already_deleted');
    else if (c.kind === 'delete') {
      // A marker written before a crash left the row as it was: redacting again finishes it.
      if (!roots.redactions.has(c.messageId)) writes.push((r) => r.redactions.set(c.messageId, { by: c.authorId, at: c.at }));
      redact.add(c.messageId);
    } else if (roots.redactions.has(c.messageId)) skip('already_deleted');
    else {
      const key = editKey(c.messageId, c.editId);
      if (roots.edits.has(key)) skip('already_applied');
      else {
        writes.push((r) => r.edits.set(key, { text: c.text, editedAt: c.editedAt }));
        edited.add(c.messageId);
      }
    }
  }
  plan.edited = [...edited].filter((id) => !redact.has(id));
  plan.redact = [...redact];
  return plan;
}
