/**
 * What the SDK carries from a sealed generation's copy into the live one
 * (client/generations/lifecycle-carry.ts, design/message-lifecycle.md "Offline across a roll"):
 * only this user's entries, only those the live copy lacks, only those the relay never saw.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { carryLifecycle } from '../../client/generations/lifecycle-carry.ts';
import { editKey, reactionKey } from '../../shared/message-lifecycle.ts';
import { type ThreadRoots, threadRoots } from '../../shared/schema.ts';

function doc(clientID: number): { doc: Y.Doc; roots: ThreadRoots } {
  const d = new Y.Doc();
  d.clientID = clientID;
  return { doc: d, roots: threadRoots(d) };
}

/** A sealed copy of alice's: bob's entries arrived from the relay (his client 2), hers are her client 1's. */
function oldCopy() {
  const old = doc(1);
  const bob = doc(2);
  bob.doc.transact(() => {
    bob.roots.edits.set(editKey('b1', 'e1'), { text: 'bob edit', editedAt: 1 });
    bob.roots.reactions.set(reactionKey('a1', 'bob', '👍'), { at: 1 });
    bob.roots.redactions.set('b2', { by: 'bob', at: 1 });
  });
  Y.applyUpdate(old.doc, Y.encodeStateAsUpdate(bob.doc));
  old.doc.transact(() => {
    // The relay records which user each writing client belongs to.
    old.roots.owners.set('1', 'alice');
    old.roots.owners.set('2', 'bob');
    old.roots.edits.set(editKey('a1', 'e2'), { text: 'alice edit', editedAt: 2 });
    old.roots.edits.set(editKey('s1', 'e3'), { text: 'sealed, author unknown', editedAt: 2 });
    old.roots.edits.set(editKey('b2', 'e4'), { text: 'of a deleted message', editedAt: 2 });
    old.roots.redactions.set('a2', { by: 'alice', at: 2 });
    old.roots.reactions.set(reactionKey('a1', 'alice', '🎉'), { at: 5 });
    old.roots.reactions.set(reactionKey('b2', 'alice', '🎉'), { at: 5 });
  });
  return old;
}

const authors = new Map([['a1', 'alice'], ['b1', 'bob']]);

describe('carrying lifecycle entries into the live generation', () => {
  it("carries this user's entries the live copy lacks, and nothing of others'", () => {
    const old = oldCopy();
    const next = doc(1);
    next.doc.transact(() => carryLifecycle(old.roots, next.roots, 'alice', (id) => authors.get(id)));
    expect([...next.roots.edits.keys()].sort()).toEqual([editKey('a1', 'e2'), editKey('s1', 'e3')]);
    expect(next.roots.edits.get(editKey('a1', 'e2'))).toEqual({ text: 'alice edit', editedAt: 2 });
    expect([...next.roots.redactions.keys()]).toEqual(['a2']);
    expect([...next.roots.reactions.keys()]).toEqual([reactionKey('a1', 'alice', '🎉')]);
  });

  it('leaves alone what the live copy has (a newer reaction, a revision) and what the relay saw', () => {
    const old = oldCopy();
    const next = doc(3);
    next.roots.reactions.set(reactionKey('a1', 'alice', '🎉'), { at: 9 });
    next.roots.edits.set(editKey('a1', 'e2'), { text: 'alice edit', editedAt: 2 });
    expect(carryLifecycle(old.roots, next.roots, 'alice', (id) => authors.get(id))).toEqual({ edits: 1, redactions: 1, reactions: 0 });
    expect(next.roots.reactions.get(reactionKey('a1', 'alice', '🎉'))).toEqual({ at: 9 });
    // The relay's state vector of the sealed generation covers all of it: nothing is carried.
    const sv = Y.decodeStateVector(Y.encodeStateVector(old.doc));
    const seen = (client: number, clock: number) => clock < (sv.get(client) ?? 0);
    expect(carryLifecycle(old.roots, doc(4).roots, 'alice', (id) => authors.get(id), seen)).toEqual({ edits: 0, redactions: 0, reactions: 0 });
  });

  it("a revision whose author the view does not know is carried only when another user's client did not write it", () => {
    const old = oldCopy();
    const next = doc(5);
    carryLifecycle(old.roots, next.roots, 'bob', () => undefined);
    expect([...next.roots.edits.keys()]).toEqual([editKey('b1', 'e1')]);
    expect([...next.roots.redactions.keys()]).toEqual(['b2']);
    expect([...next.roots.reactions.keys()]).toEqual([reactionKey('a1', 'bob', '👍')]);
  });
});
