/**
 * The policy of edits, deletions and reactions (docs/design/message-lifecycle.md), in
 * process: real Yjs documents producing real updates, checked by the relay's policy.
 */
import { describe, expect, it } from 'vitest';
import { systemEventsOf } from '../../shared/membership.ts';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { MAX_REACTIONS_PER_MESSAGE, editKey, isValidEmoji, reactionKey, reactionsByMessage, revisionsOf } from '../../shared/message-lifecycle.ts';
import { type MessageRecord, type ThreadRoots, remoteAuthorId, threadRoots } from '../../shared/schema.ts';
import { type Verdict, checkUpdate } from '../../server/room/policy/update-policy.ts';

const msg = (id: string, authorId: string, text = 'hi'): MessageRecord => ({ id, authorId, text, clientSentAt: 1 });
const REMOTE = remoteAuthorId('zoe', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');

/**
 * A relay doc: m0 by alice, m1 by bob, m2 by zoe of another relay (ingested from its repo);
 * carol owns the thread, dave moderates, erin is a plain member.
 */
function relayDoc() {
  const doc = new Y.Doc();
  const roots = threadRoots(doc);
  doc.transact(() => {
    roots.messages.insert(0, [msg('m0', 'alice'), msg('m1', 'bob'), msg('m2', REMOTE)]);
    roots.canon.set('m0', { seq: 1, sentAt: 1, state: 'sent' });
    roots.canon.set('m1', { seq: 2, sentAt: 1, state: 'sent' });
    roots.canon.set('m2', { seq: 3, sentAt: 1, state: 'confirmed' });
    roots.meta.set('participants', ['carol', 'alice', 'bob', 'dave', 'erin']);
    roots.meta.set('owner', 'carol');
    roots.meta.set('moderators', ['dave']);
    roots.reactions.set(reactionKey('m0', 'bob', '👍'), { at: 1 });
    roots.edits.set(editKey('m1', 'e0'), { text: 'bob edited', editedAt: 2 });
  });
  return { doc, roots };
}
type Relay = ReturnType<typeof relayDoc>;

function clientOf(relay: Y.Doc): Y.Doc {
  const c = new Y.Doc();
  Y.applyUpdate(c, Y.encodeStateAsUpdate(relay));
  return c;
}

function updateOf(doc: Y.Doc, change: (r: ThreadRoots) => void): Uint8Array {
  let out: Uint8Array | null = null;
  const f = (u: Uint8Array) => (out = u);
  doc.on('update', f);
  doc.transact(() => change(threadRoots(doc)));
  doc.off('update', f);
  if (!out) throw new Error('change produced no update');
  return out;
}

function authorIn(roots: ThreadRoots, id: string): string | undefined {
  for (const r of roots.messages) if (r.id === id) return r.authorId;
  return undefined;
}

function check(relay: Relay, u: Uint8Array, userId: string): Verdict {
  return checkUpdate(
    {
      doc: relay.doc,
      roots: relay.roots,
      userId,
      maxTextLength: 100,
      isKnownMessageId: (id) => relay.roots.canon.has(id),
      authorOfKnownMessage: (id) => authorIn(relay.roots, id),
    },
    u,
  );
}

const outcome = (v: Verdict) => (v.ok ? 'ok' : v.pending ? 'pending' : v.code);

function run(user: string, change: (r: ThreadRoots) => void, relay = relayDoc()): { v: Verdict; relay: Relay; before: Uint8Array } {
  const before = Y.encodeStateAsUpdate(relay.doc);
  return { v: check(relay, updateOf(clientOf(relay.doc), change), user), relay, before };
}

describe('message lifecycle policy', () => {
  const refused: Array<[string, string, (r: ThreadRoots) => void, number]> = [
    ["editing another user's message as a plain member", 'erin', (r) => r.edits.set(editKey('m0', 'e1'), { text: 'x', editedAt: 3 }), CloseCode.POLICY_VIOLATION],
    ["editing another user's message as a moderator", 'dave', (r) => r.edits.set(editKey('m0', 'e1'), { text: 'x', editedAt: 3 }), CloseCode.POLICY_VIOLATION],
    ["editing another user's message as the owner", 'carol', (r) => r.edits.set(editKey('m0', 'e1'), { text: 'x', editedAt: 3 }), CloseCode.POLICY_VIOLATION],
    ['editing an unknown message', 'alice', (r) => r.edits.set(editKey('nope', 'e1'), { text: 'x', editedAt: 3 }), CloseCode.POLICY_VIOLATION],
    ['an edit over the text limit', 'alice', (r) => r.edits.set(editKey('m0', 'e1'), { text: 'x'.repeat(101), editedAt: 3 }), CloseCode.TOO_LARGE],
    ['an edit with an extra field', 'alice', (r) => r.edits.set(editKey('m0', 'e1'), { text: 'x', editedAt: 3, authorId: 'alice' } as any), CloseCode.POLICY_VIOLATION],
    ['a malformed edit key', 'alice', (r) => r.edits.set('m0', { text: 'x', editedAt: 3 }), CloseCode.POLICY_VIOLATION],
    ['overwriting a revision', 'bob', (r) => r.edits.set(editKey('m1', 'e0'), { text: 'again', editedAt: 4 }), CloseCode.POLICY_VIOLATION],
    ['deleting a revision', 'bob', (r) => r.edits.delete(editKey('m1', 'e0')), CloseCode.POLICY_VIOLATION],
    ["deleting another user's message as a plain member", 'erin', (r) => r.redactions.set('m0', { by: 'erin', at: 3 }), CloseCode.POLICY_VIOLATION],
    ["deleting another user's message as its other author", 'bob', (r) => r.redactions.set('m0', { by: 'bob', at: 3 }), CloseCode.POLICY_VIOLATION],
    ['a deletion in the name of another user', 'alice', (r) => r.redactions.set('m0', { by: 'carol', at: 3 }), CloseCode.POLICY_VIOLATION],
    ['a malformed deletion marker', 'alice', (r) => r.redactions.set('m0', { by: 'alice' } as any), CloseCode.POLICY_VIOLATION],
    ['deleting the message record itself', 'alice', (r) => r.messages.delete(0, 1), CloseCode.POLICY_VIOLATION],
    ['reacting as another user', 'alice', (r) => r.reactions.set(reactionKey('m1', 'bob', '🎉'), { at: 3 }), CloseCode.POLICY_VIOLATION],
    ["removing another user's reaction", 'alice', (r) => r.reactions.delete(reactionKey('m0', 'bob', '👍')), CloseCode.POLICY_VIOLATION],
    ['a reaction that is not an emoji', 'alice', (r) => r.reactions.set(reactionKey('m1', 'alice', 'lol'), { at: 3 }), CloseCode.POLICY_VIOLATION],
    ['a reaction of two emoji', 'alice', (r) => r.reactions.set(reactionKey('m1', 'alice', '👍👍'), { at: 3 }), CloseCode.POLICY_VIOLATION],
    ['a malformed reaction value', 'alice', (r) => r.reactions.set(reactionKey('m1', 'alice', '👍'), { at: 'now' } as any), CloseCode.POLICY_VIOLATION],
    [
      'more reactions on one message than the bound',
      'alice',
      (r) => {
        const emoji = [...'😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗🤩🤔🤨😐'];
        for (const e of emoji.slice(0, MAX_REACTIONS_PER_MESSAGE + 1)) r.reactions.set(reactionKey('m1', 'alice', e), { at: 3 });
      },
      CloseCode.POLICY_VIOLATION,
    ],
  ];
  for (const [name, user, change, code] of refused) {
    it(`refuses: ${name}`, () => {
      const { v, relay, before } = run(user, change);
      expect(outcome(v)).toBe(code);
      expect(Y.encodeStateAsUpdate(relay.doc)).toEqual(before); // checking never writes
    });
  }

  const allowed: Array<[string, string, (r: ThreadRoots) => void, string[]]> = [
    ['the author edits their message', 'alice', (r) => r.edits.set(editKey('m0', 'e1'), { text: 'fixed', editedAt: 3 }), []],
    ['the author deletes their message', 'alice', (r) => r.redactions.set('m0', { by: 'alice', at: 3 }), ['m0']],
    ["a moderator deletes anyone's message", 'dave', (r) => r.redactions.set('m0', { by: 'dave', at: 3 }), ['m0']],
    ["the owner deletes anyone's message", 'carol', (r) => r.redactions.set('m1', { by: 'carol', at: 3 }), ['m1']],
    ['a member reacts', 'erin', (r) => r.reactions.set(reactionKey('m0', 'erin', '👍'), { at: 3 }), []],
    ['a flag and a ZWJ sequence are one emoji each', 'erin', (r) => {
      r.reactions.set(reactionKey('m0', 'erin', '🇫🇷'), { at: 3 });
      r.reactions.set(reactionKey('m0', 'erin', '👩‍💻'), { at: 3 });
    }, []],
    ['a member removes their own reaction', 'bob', (r) => r.reactions.delete(reactionKey('m0', 'bob', '👍')), []],
    [
      'a message sent, edited and deleted in one offline update',
      'alice',
      (r) => {
        r.messages.insert(r.messages.length, [msg('n1', 'alice')]);
        r.edits.set(editKey('n1', 'e1'), { text: 'v2', editedAt: 3 });
        r.redactions.set('n1', { by: 'alice', at: 4 });
      },
      ['n1'],
    ],
  ];
  for (const [name, user, change, redact] of allowed) {
    it(`accepts: ${name}`, () => {
      const { v } = run(user, change);
      expect(outcome(v)).toBe('ok');
      if (v.ok) expect(v.redact).toEqual(redact);
    });
  }

  // A deletion the writer may not do but could have written in good faith (offline, before a
  // demotion; a remote author's message, whose record is in another relay's repo): accepted
  // and named for the relay to remove again, not refused (4402 would lock the client out).
  const reverted: Array<[string, string, (r: ThreadRoots) => void, (r: ThreadRoots) => void]> = [
    ["a remote author's message, as a moderator", 'dave', () => {}, (r) => r.redactions.set('m2', { by: 'dave', at: 3 })],
    ["a remote author's message, as the owner", 'carol', () => {}, (r) => r.redactions.set('m2', { by: 'carol', at: 3 })],
    [
      "another's message, by a moderator demoted meanwhile",
      'dave',
      (r) => {
        r.meta.set('moderators', []);
        systemEventsOf(r.meta.doc!).push([{ id: 'e1', type: 'moderators_set', actor: 'carol', moderators: ['dave'], at: 1, afterSeq: 3 }]);
      },
      (r) => r.redactions.set('m0', { by: 'dave', at: 3 }),
    ],
  ];
  for (const [name, user, before, change] of reverted) {
    it(`accepts and reverts a deletion of ${name}`, () => {
      const relay = relayDoc();
      relay.doc.transact(() => before(relay.roots));
      const v = check(relay, updateOf(clientOf(relay.doc), change), user);
      expect(outcome(v)).toBe('ok');
      if (v.ok) expect([v.redact, v.revert]).toEqual([[], [change === reverted[2]![3] ? 'm0' : 'm2']]);
    });
  }

  it('accepts and reverts a demoted moderator’s offline deletion of a message the relay does not know; a plain member’s is refused', () => {
    const relay = relayDoc();
    relay.doc.transact(() => {
      relay.roots.meta.set('moderators', []);
      systemEventsOf(relay.doc).push([{ id: 'e1', type: 'moderators_set', actor: 'carol', moderators: ['dave'], at: 1, afterSeq: 3 }]);
    });
    const v = check(relay, updateOf(clientOf(relay.doc), (r) => r.redactions.set('nope', { by: 'dave', at: 3 })), 'dave');
    expect(outcome(v)).toBe('ok');
    if (v.ok) expect([v.redact, v.revert]).toEqual([[], ['nope']]);
    const w = check(relay, updateOf(clientOf(relay.doc), (r) => r.redactions.set('nope', { by: 'erin', at: 3 })), 'erin');
    expect(outcome(w)).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('refuses a deletion of another’s message by a member who never moderated, even once moderators changed', () => {
    const relay = relayDoc();
    relay.doc.transact(() => systemEventsOf(relay.doc).push([{ id: 'e1', type: 'moderators_set', actor: 'carol', moderators: ['dave'], at: 1, afterSeq: 3 }]));
    const v = check(relay, updateOf(clientOf(relay.doc), (r) => r.redactions.set('m0', { by: 'erin', at: 3 })), 'erin');
    expect(outcome(v)).toBe(CloseCode.POLICY_VIOLATION);
  });

  it("accepts an offline edit of a message deleted meanwhile, and names it for the relay's purge", () => {
    const relay = relayDoc();
    const alice = clientOf(relay.doc);
    // Alice edits offline; meanwhile a moderator deleted the message at the relay.
    const edit = updateOf(alice, (r) => r.edits.set(editKey('m0', 'e9'), { text: 'late', editedAt: 5 }));
    relay.roots.redactions.set('m0', { by: 'dave', at: 4 });
    const v = check(relay, edit, 'alice');
    expect(outcome(v)).toBe('ok');
    if (v.ok) expect(v.redact).toEqual(['m0']);
  });

  it('accepts a revision written again with the identical value as a no-op, whoever writes it; another value is still refused', () => {
    // A client carrying its offline revisions into a newer generation (client/generations/
    // lifecycle-carry.ts) writes them into a copy that lacks them: concurrently with the relay's.
    for (const user of ['bob', 'erin']) {
      const relay = relayDoc();
      const v = check(relay, updateOf(new Y.Doc(), (r) => r.edits.set(editKey('m1', 'e0'), { text: 'bob edited', editedAt: 2 })), user);
      expect(outcome(v)).toBe('ok');
      if (v.ok) expect(v.edited).toEqual([]); // nothing new to store
    }
    const relay = relayDoc();
    const v = check(relay, updateOf(new Y.Doc(), (r) => r.edits.set(editKey('m1', 'e0'), { text: 'bob edited', editedAt: 3 })), 'bob');
    expect(outcome(v)).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('derives revisions and reaction groups the same way on every replica', () => {
    const { roots } = relayDoc();
    roots.edits.set(editKey('m1', 'e2'), { text: 'second', editedAt: 9 });
    roots.edits.set(editKey('m1', 'e1'), { text: 'first', editedAt: 9 });
    expect(revisionsOf(roots.edits.entries(), 'm1').map((r) => r.text)).toEqual(['bob edited', 'first', 'second']);
    roots.reactions.set(reactionKey('m0', 'alice', '👍'), { at: 2 });
    roots.reactions.set(reactionKey('m0', 'alice', '🎉'), { at: 3 });
    expect(reactionsByMessage(roots.reactions.entries()).get('m0')).toEqual([
      { emoji: '👍', count: 2, users: ['bob', 'alice'] },
      { emoji: '🎉', count: 1, users: ['alice'] },
    ]);
    expect(isValidEmoji('👍🏽')).toBe(true);
    expect(isValidEmoji('a')).toBe(false);
    expect(isValidEmoji('1️⃣')).toBe(true);
  });
});
