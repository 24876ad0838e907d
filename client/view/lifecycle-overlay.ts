/**
 * The overlay of edits, deletions and reactions on a thread view's ordered messages
 * (docs/design/message-lifecycle.md): computed once per build of the list from the live
 * document, applied to each message view.
 */
import { type ReactionSummary, type Revision, reactionsByMessage, revisionsByMessage } from '../../shared/message-lifecycle.ts';
import type { ThreadRoots } from '../../shared/schema.ts';

/** The fields of a message view the overlay sets. */
export interface Overlaid {
  id: string;
  text: string;
  redacted?: true;
  editedAt?: number;
  reactions?: Array<ReactionSummary & { mine: boolean }>;
}

/** The overlay of one build of the list: revisions, reactions and deletions by message id. */
export class LifecycleOverlay {
  private readonly revisions: Map<string, Revision[]>;
  private readonly reactions: Map<string, ReactionSummary[]>;
  private readonly redacted: ReadonlySet<string>;

  constructor(roots: ThreadRoots, private readonly userId: string, sealedRedacted: Iterable<string> = []) {
    this.revisions = roots.edits.size ? revisionsByMessage(roots.edits.entries()) : new Map();
    this.reactions = roots.reactions.size ? reactionsByMessage(roots.reactions.entries()) : new Map();
    this.redacted = new Set([...roots.redactions.keys(), ...sealedRedacted]);
  }

  /** Whether anything applies to `id`. */
  has(id: string): boolean {
    return this.redacted.has(id) || this.revisions.has(id) || this.reactions.has(id);
  }

  /** Ids marked deleted in the document. */
  get redactedIds(): ReadonlySet<string> {
    return this.redacted;
  }

  /** `v` with its current text, "edited", reactions and deletion applied (the same object when none applies). */
  apply<V extends Overlaid>(v: V): V {
    if (!this.has(v.id) && !v.redacted) return v;
    if (this.redacted.has(v.id) || v.redacted) {
      const out: V = { ...v, text: '', redacted: true };
      delete out.reactions;
      delete out.editedAt;
      return out;
    }
    const out: V = { ...v };
    const revs = this.revisions.get(v.id);
    if (revs?.length) {
      const last = revs[revs.length - 1]!;
      out.text = last.text;
      out.editedAt = last.editedAt;
    }
    const reactions = this.reactions.get(v.id);
    if (reactions?.length) out.reactions = reactions.map((r) => ({ ...r, mine: r.users.includes(this.userId) }));
    return out;
  }

  /** Earlier versions of a message, oldest first, ending with the current one. */
  versions(original: string | undefined, id: string): Array<{ text: string; editedAt?: number }> {
    const revs = this.revisions.get(id) ?? [];
    return [...(original !== undefined ? [{ text: original }] : []), ...revs.map((r) => ({ text: r.text, editedAt: r.editedAt }))];
  }
}
