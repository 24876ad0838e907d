/** The document policy, in process: real Yjs documents producing real updates. */
import { describe, expect, it } from 'vitest';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { type MessageRecord, threadRoots } from '../../shared/schema.ts';
import { type Verdict, checkUpdate } from '../../server/room/policy/update-policy.ts';

const msg = (id: string, authorId = 'alice', text = 'hi'): MessageRecord => ({ id, authorId, text, clientSentAt: 1 });

/** A relay doc holding `n` messages with canon, a receipt, and meta. */
function relayDoc(n = 3) {
  const doc = new Y.Doc();
  const roots = threadRoots(doc);
  doc.transact(() => {
    for (let i = 0; i < n; i++) roots.messages.insert(roots.messages.length, [msg(`m${i}`, i % 2 ? 'bob' : 'alice')]);
    for (let i = 0; i < n; i++) roots.canon.set(`m${i}`, { seq: i + 1, sentAt: 1, state: 'sent' });
    roots.meta.set('title', 't');
    roots.receipts.set('m0|bob', { readAt: 5 });
  });
  // Canon changes state: the relay's own deletions, which every client will echo back.
  roots.canon.set('m0', { seq: 1, sentAt: 1, state: 'confirmed' });
  return { doc, roots };
}

function clientOf(relay: Y.Doc): Y.Doc {
  const c = new Y.Doc();
  Y.applyUpdate(c, Y.encodeStateAsUpdate(relay));
  return c;
}

/** The update a change to `doc` produces. */
function updateOf(doc: Y.Doc, change: (roots: ReturnType<typeof threadRoots>, doc: Y.Doc) => void): Uint8Array {
  let out: Uint8Array | null = null;
  const f = (u: Uint8Array) => (out = u);
  doc.on('update', f);
  doc.transact(() => change(threadRoots(doc), doc));
  doc.off('update', f);
  if (!out) throw new Error('change produced no update');
  return out;
}

function check(relay: { doc: Y.Doc; roots: ReturnType<typeof threadRoots> }, u: Uint8Array, userId = 'alice'): Verdict {
  return checkUpdate(
    { doc: relay.doc, roots: relay.roots, userId, maxTextLength: 100, isKnownMessageId: (id) => relay.roots.canon.has(id) },
    u,
  );
}

const refusedWith = (v: Verdict) => (v.ok ? 'ok' : v.pending ? 'pending' : v.code);

describe('update policy', () => {
  const forged: Array<[string, (r: ReturnType<typeof threadRoots>, d: Y.Doc) => void, number]> = [
    ['wrong author', (r) => r.messages.insert(r.messages.length, [msg('n1', 'bob')]), CloseCode.POLICY_VIOLATION],
    ['canon write', (r) => r.canon.set('m1', { seq: 9, sentAt: 1, state: 'sent' }), CloseCode.POLICY_VIOLATION],
    ['meta write', (r) => r.meta.set('archived', false), CloseCode.POLICY_VIOLATION],
    ['deleting a message', (r) => r.messages.delete(1, 1), CloseCode.POLICY_VIOLATION],
    ['nested type', (r) => r.messages.insert(0, [new Y.Map() as any]), CloseCode.POLICY_VIOLATION],
    ['receipt for another user', (r) => r.receipts.set('m1|bob', { readAt: 9 }), CloseCode.POLICY_VIOLATION],
    ['malformed receipt key', (r) => r.receipts.set('m1', { readAt: 9 }), CloseCode.POLICY_VIOLATION],
    ['invalid receipt value', (r) => r.receipts.set('m1|alice', { readAt: -1 }), CloseCode.POLICY_VIOLATION],
    ['deleting another user\'s receipt', (r) => r.receipts.delete('m0|bob'), CloseCode.POLICY_VIOLATION],
    ['unknown root type', (_r, d) => d.getArray('other').insert(0, [1]), CloseCode.POLICY_VIOLATION],
    ['text content', (_r, d) => d.getText('t').insert(0, 'x'), CloseCode.POLICY_VIOLATION],
    ['oversize text', (r) => r.messages.insert(r.messages.length, [msg('n1', 'alice', 'x'.repeat(101))]), CloseCode.TOO_LARGE],
    ['duplicate message id', (r) => r.messages.insert(r.messages.length, [msg('m1', 'alice')]), CloseCode.POLICY_VIOLATION],
    ['duplicate id within one update', (r) => r.messages.insert(r.messages.length, [msg('n1'), msg('n1')]), CloseCode.POLICY_VIOLATION],
    ['record failing the schema', (r) => r.messages.insert(r.messages.length, [{ id: 'n1', authorId: 'alice' } as any]), CloseCode.POLICY_VIOLATION],
    ['message with extra field', (r) => r.messages.insert(r.messages.length, [{ ...msg('n1'), x: 1 } as any]), CloseCode.POLICY_VIOLATION],
    ['plain value in messages', (r) => r.messages.insert(r.messages.length, ['just a string' as any]), CloseCode.POLICY_VIOLATION],
  ];
  for (const [name, change, code] of forged) {
    it(`refuses: ${name}`, () => {
      const relay = relayDoc();
      const before = Y.encodeStateAsUpdate(relay.doc);
      expect(refusedWith(check(relay, updateOf(clientOf(relay.doc), change)))).toBe(code);
      expect(Y.encodeStateAsUpdate(relay.doc)).toEqual(before); // checking never writes
    });
  }

  it('refuses: keyed entry in messages (a writer that typed `messages` as a map)', () => {
    const relay = relayDoc();
    const before = Y.encodeStateAsUpdate(relay.doc);
    const writer = new Y.Doc();
    writer.getMap('messages').set('k1', msg('k1'));
    const v = check(relay, Y.encodeStateAsUpdate(writer));
    expect(refusedWith(v)).toBe(CloseCode.POLICY_VIOLATION);
    expect(v.ok ? '' : v.reason).toMatch(/keyed entry in messages/);
    expect(Y.encodeStateAsUpdate(relay.doc)).toEqual(before);
  });

  it('accepts an append and an own receipt, and reports them', () => {
    const relay = relayDoc();
    const v = check(relay, updateOf(clientOf(relay.doc), (r) => {
      r.messages.insert(r.messages.length, [msg('n1'), msg('n2')]);
      r.receipts.set('m1|alice', { readAt: 7 });
    }));
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.messages.map((m) => m.record.id)).toEqual(['n1', 'n2']);
    expect([...v.receipts]).toEqual([['m1|alice', 7]]);
  });

  it('accepts a reconnecting client\'s full sync step 2 (known content, old deletions) with a new message', () => {
    const relay = relayDoc(50);
    const client = clientOf(relay.doc);
    // Client overwrites its receipt twice (its own deletions), goes offline, writes more.
    threadRoots(client).receipts.set('m1|alice', { readAt: 1 });
    threadRoots(client).receipts.set('m1|alice', { readAt: 2 });
    threadRoots(client).messages.insert(threadRoots(client).messages.length, [msg('n1')]);
    // Meanwhile the relay moved on: more canon changes (more relay deletions).
    relay.roots.canon.set('m2', { seq: 3, sentAt: 1, state: 'confirmed' });
    const step2 = Y.encodeStateAsUpdate(client, Y.encodeStateVector(relay.doc));
    const v = check(relay, step2);
    expect(v.ok && v.messages.map((m) => m.record.id)).toEqual(['n1']);
    // The whole state of the client (everything known, all old deletions) also passes.
    const relay2 = relayDoc(50);
    Y.applyUpdate(relay2.doc, Y.encodeStateAsUpdate(client));
    expect(check(relay2, Y.encodeStateAsUpdate(client)).ok).toBe(true);
  });

  it('accepts deleting (overwriting) one\'s own receipt', () => {
    const relay = relayDoc();
    const client = clientOf(relay.doc);
    Y.applyUpdate(relay.doc, updateOf(client, (r) => r.receipts.set('m1|alice', { readAt: 1 })));
    const v = check(relay, updateOf(client, (r) => r.receipts.set('m1|alice', { readAt: 3 })));
    expect(v.ok && [...v.receipts]).toEqual([['m1|alice', 3]]);
  });

  it('reports an update with missing dependencies as pending, and accepts it once they arrive', () => {
    const relay = relayDoc();
    const client = clientOf(relay.doc);
    const first = updateOf(client, (r) => r.messages.insert(r.messages.length, [msg('n1')]));
    const second = updateOf(client, (r) => r.messages.insert(r.messages.length, [msg('n2')]));
    const v = check(relay, second);
    expect(v.ok === false && v.pending).toBe(true);
    Y.applyUpdate(relay.doc, first);
    const v2 = check(relay, second);
    expect(v2.ok && v2.messages.map((m) => m.record.id)).toEqual(['n2']);
  });

  it('refuses a violating update even when another part of it is pending', () => {
    const relay = relayDoc();
    const client = clientOf(relay.doc);
    updateOf(client, (r) => r.messages.insert(r.messages.length, [msg('n1')])); // never sent
    const bad = updateOf(client, (r) => {
      r.messages.insert(r.messages.length, [msg('n2')]);
      r.canon.set('m1', { seq: 1, sentAt: 1, state: 'failed' });
    });
    // The canon write is at a clock after the missing struct: pending, judged once complete.
    const v = check(relay, Y.mergeUpdates([bad]));
    expect(v.ok).toBe(false);
    const whole = Y.encodeStateAsUpdate(client, Y.encodeStateVector(relay.doc));
    expect(refusedWith(check(relay, whole))).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('resolves origins against earlier structs of the same update across clients', () => {
    const relay = relayDoc();
    const a = clientOf(relay.doc);
    const b = clientOf(relay.doc);
    threadRoots(a).messages.insert(threadRoots(a).messages.length, [msg('n1')]);
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    // b appends right after a's item: its origin lives in a's struct, new to the relay.
    threadRoots(b).messages.insert(threadRoots(b).messages.length, [msg('n2')]);
    const v = check(relay, Y.encodeStateAsUpdate(b, Y.encodeStateVector(relay.doc)));
    expect(v.ok && v.messages.map((m) => m.record.id).sort()).toEqual(['n1', 'n2']);
  });

  it('treats garbage as malformed and never throws', () => {
    const relay = relayDoc();
    const good = updateOf(clientOf(relay.doc), (r) => r.messages.insert(r.messages.length, [msg('n1')]));
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const u = new Uint8Array(good);
      const kind = i % 3;
      let bytes: Uint8Array;
      if (kind === 0) bytes = u.slice(0, Math.floor(rnd() * u.length));
      else if (kind === 1) {
        u[Math.floor(rnd() * u.length)]! ^= 1 << Math.floor(rnd() * 8);
        bytes = u;
      } else bytes = Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
      const v = check(relay, bytes);
      if (v.ok) {
        accepted++;
        // Whatever passes must be a valid append by alice.
        for (const m of v.messages) expect(m.record.authorId).toBe('alice');
      }
    }
    expect(accepted).toBeLessThan(3000);
    expect(refusedWith(check(relay, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])))).toBe(CloseCode.MALFORMED);
  });

  it('refuses continuing another user\'s (or the relay\'s) Yjs client id', () => {
    const relay = relayDoc();
    const bob = clientOf(relay.doc);
    Y.applyUpdate(relay.doc, updateOf(bob, (r) => r.messages.insert(r.messages.length, [msg('b1', 'bob')])));
    // Alice's replica writes with bob's client id, at the clocks bob would use next.
    const forger = clientOf(relay.doc);
    forger.clientID = bob.clientID;
    const v = check(relay, updateOf(forger, (r) => r.messages.insert(r.messages.length, [msg('a1', 'alice')])));
    expect(!v.ok && !v.pending && v.reason).toBe('client id belongs to another user');
    const asRelay = clientOf(relay.doc);
    asRelay.clientID = relay.doc.clientID;
    const v2 = check(relay, updateOf(asRelay, (r) => r.messages.insert(r.messages.length, [msg('a2', 'alice')])));
    expect(!v2.ok && !v2.pending && v2.reason).toBe('client id of the relay');
    // Bob himself continues fine.
    expect(check(relay, updateOf(bob, (r) => r.messages.insert(r.messages.length, [msg('b2', 'bob')])), 'bob').ok).toBe(true);
  });

  it('bounds the relay structs a live update\'s delete set may cover; repeated ranges cost nothing', () => {
    const relay = relayDoc(3);
    // 300 relay deletions in distinct structs (alternating keys do not merge).
    for (let i = 0; i < 300; i++) relay.roots.canon.set(i % 2 ? 'm1' : 'm2', { seq: 2, sentAt: i, state: 'sent' });
    const client = clientOf(relay.doc);
    const step2 = Y.encodeStateAsUpdate(client, Y.encodeStateVector(relay.doc));
    const ctx = (budget?: number) => ({
      doc: relay.doc, roots: relay.roots, userId: 'alice', maxTextLength: 100,
      isKnownMessageId: (id: string) => relay.roots.canon.has(id), deletionWalkBudget: budget,
    });
    expect(checkUpdate(ctx(), step2).ok).toBe(true);
    expect(refusedWith(checkUpdate(ctx(50), step2))).toBe(CloseCode.POLICY_VIOLATION);
    // The same delete set repeated 1000 times walks no more than once.
    const ds = Y.decodeUpdate(step2).ds as any;
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 0); // no structs
    const clientsDs = [...ds.clients] as Array<[number, Array<{ clock: number; len: number }>]>;
    encoding.writeVarUint(e, clientsDs.length);
    for (const [c, ranges] of clientsDs) {
      encoding.writeVarUint(e, c);
      encoding.writeVarUint(e, ranges.length * 1000);
      for (let k = 0; k < 1000; k++) for (const r of ranges) (encoding.writeVarUint(e, r.clock), encoding.writeVarUint(e, r.len));
    }
    const repeated = encoding.toUint8Array(e);
    expect(checkUpdate(ctx(2 * 400), repeated).ok).toBe(true);
  });
});
