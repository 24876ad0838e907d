/**
 * The document policy against a real relay process: forged updates from a raw peer,
 * read receipts converging to the latest readAt, and the archived-thread flow.
 */
import { ulid } from 'ulid';
import { beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { type MessageRecord, type ThreadRoots, receiptKey } from '../../shared/schema.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { type TestClient, synced } from '../helpers/y-client.ts';

const { relay, tokens, client } = relayFixture({ SKEIN_MAX_TEXT_LENGTH: '500' }, ['alice', 'bob', 'carol']);


/** Rejects when `p` does not settle within `ms` (a test must fail, not hang). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);
}

const rec = (authorId: string, extra: Partial<MessageRecord> = {}): MessageRecord => ({
  id: ulid(),
  authorId,
  text: 'forged',
  clientSentAt: Date.now(),
  ...extra,
});

describe('forged updates', () => {
  let threadId: string;
  let alice: TestClient;
  let bob: TestClient;
  let seed: MessageRecord[];
  let historyBefore: unknown;

  beforeAll(async () => {
    threadId = (await relay.createThread(tokens.alice!, ['bob', 'carol'])).id;
    alice = client(threadId, 'alice');
    bob = client(threadId, 'bob');
    await Promise.all([synced(alice), synced(bob)]);
    seed = [alice.send('one'), bob.send('two')];
    alice.roots.receipts.set(receiptKey(seed[1]!.id, 'alice'), { readAt: 1000 });
    await bob.until(() => seed.every((m) => bob.roots.canon.has(m.id)) && bob.roots.receipts.size === 1, 'seed synced');
    historyBefore = (await relay.api('GET', `/v1/threads/${threadId}/messages`, tokens.bob)).body;
  });

  const table: Array<{ name: string; code: number; forge: (r: ThreadRoots, d: Y.Doc) => void }> = [
    { name: 'wrong author', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.messages.insert(r.messages.length, [rec('alice')]) },
    { name: 'canon write', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.canon.set(seed[0]!.id, { seq: 99, sentAt: 1, state: 'confirmed' }) },
    { name: 'meta write', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.meta.set('participants', ['carol']) },
    { name: 'deleting a message', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.messages.delete(0, 1) },
    { name: 'nested type', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.messages.insert(r.messages.length, [new Y.Map() as any]) },
    { name: 'receipt for another user', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.receipts.set(receiptKey(seed[0]!.id, 'bob'), { readAt: 5 }) },
    { name: 'unknown root type', code: CloseCode.POLICY_VIOLATION, forge: (_r, d) => d.getMap('admin').set('owner', 'carol') },
    { name: 'oversize text', code: CloseCode.TOO_LARGE, forge: (r) => r.messages.insert(r.messages.length, [rec('carol', { text: 'x'.repeat(501) })]) },
    { name: 'duplicate message id', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.messages.insert(r.messages.length, [rec('carol', { id: seed[0]!.id })]) },
    { name: 'record failing the schema', code: CloseCode.POLICY_VIOLATION, forge: (r) => r.messages.insert(r.messages.length, [{ ...rec('carol'), clientSentAt: 'yesterday' } as any]) },
  ];

  for (const row of table) {
    it(`${row.name}: closed with ${row.code}, nothing stored or forwarded`, async () => {
      const peer = rawPeer(relay.wsUrl, threadId, tokens.carol!);
      await peer.synced;
      const bobState = Y.encodeStateVector(bob.doc);
      const from = relay.logs.length;
      peer.forge(row.forge);
      expect((await within(peer.closed, 10_000, 'relay closes the forger')).code).toBe(row.code);
      const log = await relay.waitForLog((l) => l.event === 'update_refused', 10_000, from);
      expect(log).toMatchObject({ code: row.code, threadId, userId: 'carol' });
      expect(JSON.stringify(log)).not.toContain('forged');
      // A marker after the forgery: once bob has it, he would have had the forgery too.
      const marker = alice.send('marker');
      await bob.until(() => bob.roots.canon.has(marker.id), 'marker reaches bob');
      const diff = Y.decodeUpdate(Y.encodeStateAsUpdate(bob.doc, bobState));
      expect(new Set(diff.structs.map((s) => s.id.client))).not.toContain(peer.doc.clientID);
      // Storage: history has only honest messages; a fresh client sees no trace.
      const history = (await relay.api('GET', `/v1/threads/${threadId}/messages`, tokens.bob)).body;
      expect(history.messages.slice(0, 2)).toEqual((historyBefore as any).messages);
      expect(history.messages.every((m: any) => m.authorId === 'alice' || m.authorId === 'bob')).toBe(true);
      const fresh = client(threadId, 'bob');
      await fresh.until(() => fresh.roots.canon.has(marker.id), 'fresh client synced');
      expect([...fresh.doc.share.keys()].sort()).toEqual(['canon', 'edits', 'messages', 'meta', 'owners', 'reactions', 'receipts', 'redactions', 'streams']);
      const seed0 = (historyBefore as any).messages.find((m: any) => m.id === seed[0]!.id);
      expect(fresh.roots.canon.get(seed[0]!.id)).toEqual({ seq: seed0.seq, sentAt: seed0.sentAt, state: 'sent' });
      expect(fresh.roots.meta.get('participants')).toEqual(['alice', 'bob', 'carol']);
      expect(fresh.roots.messages.toJSON().map((m) => m.id)).toEqual(fresh.roots.messages.toJSON().map((m) => m.id).filter((id, i, a) => a.indexOf(id) === i));
      expect(fresh.roots.messages.toJSON().every((m) => m.text !== 'forged')).toBe(true);
      expect([...fresh.roots.receipts.keys()]).toEqual([receiptKey(seed[1]!.id, 'alice')]);
      fresh.destroy();
      expect(alice.closes).toEqual([]);
      expect(bob.closes).toEqual([]);
    });
  }

  it('accepts a well-formed append from the same raw peer', async () => {
    const peer = rawPeer(relay.wsUrl, threadId, tokens.carol!);
    await peer.synced;
    const m = rec('carol', { text: 'honest' });
    peer.forge((r) => r.messages.insert(r.messages.length, [m]));
    await bob.until(() => bob.roots.canon.get(m.id)?.state === 'sent', 'carol message canonical');
    peer.ws.close();
  });
});

describe('read receipts converge to the latest readAt', () => {
  const T1000 = Date.UTC(2026, 0, 1, 10, 0);
  const T1005 = Date.UTC(2026, 0, 1, 10, 5);
  const cases = [
    { first: 'early', lowId: 'early' },
    { first: 'early', lowId: 'late' },
    { first: 'late', lowId: 'early' },
    { first: 'late', lowId: 'late' },
  ] as const;
  for (const c of cases) {
    it(`device with ${c.first === 'early' ? '10:00' : '10:05'} reconnects first; lower client id: ${c.lowId === 'early' ? '10:00' : '10:05'} device`, async () => {
      const { id } = await relay.createThread(tokens.alice!, ['bob']);
      const docs = { early: new Y.Doc(), late: new Y.Doc() };
      docs[c.lowId].clientID = 1000;
      docs[c.lowId === 'early' ? 'late' : 'early'].clientID = 2000;
      const bob = client(id, 'bob');
      const m = bob.send('read me');
      await bob.until(() => bob.roots.canon.has(m.id), 'message canonical');
      const dev = { early: client(id, 'alice', { doc: docs.early }), late: client(id, 'alice', { doc: docs.late }) };
      await dev.early.until(() => dev.early.roots.canon.has(m.id), 'early device has it');
      await dev.late.until(() => dev.late.roots.canon.has(m.id), 'late device has it');
      dev.early.provider.disconnect();
      dev.late.provider.disconnect();
      const key = receiptKey(m.id, 'alice');
      dev.early.roots.receipts.set(key, { readAt: T1000 });
      dev.late.roots.receipts.set(key, { readAt: T1005 });
      const order = c.first === 'early' ? [dev.early, dev.late] : [dev.late, dev.early];
      order[0]!.provider.connect();
      await bob.until(() => bob.roots.receipts.get(key)?.readAt !== undefined && bob.doc.store.clients.has(order[0]!.doc.clientID), 'first device arrives');
      order[1]!.provider.connect();
      const all = [bob, dev.early, dev.late];
      const converged = (x: TestClient) => () =>
        x.roots.receipts.get(key)?.readAt === T1005 && x.doc.store.clients.has(1000) && x.doc.store.clients.has(2000);
      for (const x of all) await x.until(converged(x), `${x.userId} converges to 10:05`);
      // A round trip later nothing has moved backwards.
      const marker = bob.send('marker');
      for (const x of all) await x.until(() => x.roots.canon.has(marker.id), 'marker');
      for (const x of all) expect(x.roots.receipts.get(key)).toEqual({ readAt: T1005 });
      expect([...dev.early.closes, ...dev.late.closes].filter((e) => e.code >= 4400)).toEqual([]);
      // The relay's stored state agrees (a fresh client).
      const fresh = client(id, 'bob');
      await fresh.until(() => fresh.roots.canon.has(marker.id), 'fresh synced');
      expect(fresh.roots.receipts.get(key)).toEqual({ readAt: T1005 });
    });
  }

  it('a stale receipt from a connected device does not move it backwards and is not punished', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const bob = client(id, 'bob');
    await Promise.all([synced(a), synced(bob)]);
    const m = bob.send('x');
    await a.until(() => a.roots.canon.has(m.id), 'canon');
    const key = receiptKey(m.id, 'alice');
    a.roots.receipts.set(key, { readAt: T1005 });
    await bob.until(() => bob.roots.receipts.get(key)?.readAt === T1005, 'bob sees 10:05');
    a.roots.receipts.set(key, { readAt: T1000 });
    await bob.until(() => bob.doc.store.clients.get(a.doc.clientID)!.length >= 1 && Y.getState(bob.doc.store, a.doc.clientID) === Y.getState(a.doc.store, a.doc.clientID), 'stale write arrives');
    await a.until(() => a.roots.receipts.get(key)?.readAt === T1005, 'relay re-asserts 10:05 at the writer');
    await bob.until(() => bob.roots.receipts.get(key)?.readAt === T1005, 'bob at 10:05');
    expect(a.closes).toEqual([]);
  });
});

describe('archived threads', () => {
  it('a message sent to an archived thread is logged, tombstoned and rejected in canon; HTTP writes answer 409', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const a = client(id, 'alice');
    const bob = client(id, 'bob');
    await Promise.all([synced(a), synced(bob)]);
    const before = a.send('before archive');
    await bob.until(() => bob.roots.canon.has(before.id), 'first message');
    const arch = await relay.api('POST', `/v1/threads/${id}/archive`, tokens.bob);
    expect(arch.status).toBe(200);
    await a.until(() => a.roots.meta.get('archived') === true, 'alice sees archived');
    const late = a.send('too late');
    await a.until(() => a.roots.canon.get(late.id)?.state === 'rejected', 'alice sees rejected');
    expect(a.roots.canon.get(late.id)).toMatchObject({ seq: 2, state: 'rejected', error: 'THREAD_ARCHIVED' });
    await a.until(() => !a.roots.messages.toJSON().some((m) => m.id === late.id), 'tombstoned at the author');
    await bob.until(() => bob.roots.canon.get(late.id)?.state === 'rejected', 'bob sees rejected');
    expect(bob.roots.messages.toJSON().map((m) => m.id)).toEqual([before.id]);
    expect(a.closes).toEqual([]);
    const history = (await relay.api('GET', `/v1/threads/${id}/messages`, tokens.bob)).body;
    expect(history.messages.map((m: any) => [m.seq, m.state, m.error])).toEqual([
      [1, 'sent', undefined],
      [2, 'rejected', 'THREAD_ARCHIVED'],
    ]);
    expect(history.lastSeq).toBe(2);
    // Only the author gets a rejected message's text back.
    expect(history.messages[1].text).toBe('');
    const own = (await relay.api('GET', `/v1/threads/${id}/messages`, tokens.alice)).body;
    expect(own.messages[1].text).toBe('too late');
    const again = await relay.api('POST', `/v1/threads/${id}/archive`, tokens.alice);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('THREAD_ARCHIVED');
    // Survives a reload from storage.
    const fresh = client(id, 'bob');
    await fresh.until(() => fresh.roots.canon.get(late.id)?.state === 'rejected', 'fresh client');
    expect(fresh.roots.messages.toJSON().map((m) => m.id)).toEqual([before.id]);

    // Reopening: members only; then messages are accepted again, the rejected one stays rejected.
    const outsider = await relay.api('POST', `/v1/threads/${id}/unarchive`, await relay.token('mallory'));
    expect(outsider.status).toBe(403);
    const reopened = await relay.api('POST', `/v1/threads/${id}/unarchive`, tokens.alice);
    expect(reopened.status).toBe(200);
    expect(reopened.body.archived).toBe(false);
    await a.until(() => a.roots.meta.get('archived') === false, 'alice sees reopened');
    const again2 = a.send('after reopening');
    await bob.until(() => bob.roots.canon.get(again2.id)?.state === 'sent', 'accepted again');
    expect(bob.roots.canon.get(again2.id)!.seq).toBe(3);
    expect(bob.roots.canon.get(late.id)!.state).toBe('rejected');
    expect((await relay.api('GET', `/v1/threads/${id}`, tokens.bob)).body.archived).toBe(false);
  });
});

describe('updates whose dependencies arrive later', () => {
  /** Bob (stock client) and carol (raw peer) in a new thread; `capture` records carol's local updates. */
  async function heldSetup() {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'carol']);
    const bob = client(id, 'bob');
    await synced(bob);
    const peer = rawPeer(relay.wsUrl, id, tokens.carol!);
    await peer.synced;
    const capture = (edit: () => void): Uint8Array[] => {
      const saved: Uint8Array[] = [];
      const f = (u: Uint8Array) => saved.push(u);
      peer.doc.on('update', f);
      edit();
      peer.doc.off('update', f);
      return saved;
    };
    return { bob, peer, capture };
  }

  it('are held, not applied, and applied once the missing structs arrive', async () => {
    const { bob, peer, capture } = await heldSetup();
    // Two updates made locally, the second depending on the first; sent in reverse order.
    const m1 = rec('carol');
    const m2 = rec('carol');
    const saved = capture(() => {
      peer.roots.messages.insert(peer.roots.messages.length, [m1]);
      peer.roots.messages.insert(peer.roots.messages.length, [m2]);
    });
    peer.sendUpdate(saved[1]!);
    // Still held: a marker from bob becomes canonical while m2 does not.
    const marker = bob.send('marker');
    await bob.until(() => bob.roots.canon.has(marker.id), 'marker');
    expect(bob.roots.canon.has(m2.id)).toBe(false);
    expect(bob.roots.messages.toJSON().some((m) => m.id === m2.id)).toBe(false);
    peer.sendUpdate(saved[0]!);
    await bob.until(() => bob.roots.canon.has(m1.id) && bob.roots.canon.has(m2.id), 'both applied');
    peer.ws.close();
    expect((await peer.closed).code).toBe(1005);
  });

  it('a held update that turns out to violate the policy is refused once it can be judged', async () => {
    const { bob, peer, capture } = await heldSetup();
    const m1 = rec('carol');
    const saved = capture(() => {
      peer.roots.messages.insert(peer.roots.messages.length, [m1]);
      peer.roots.messages.delete(0, 1); // deletes its own message: not allowed either
    });
    peer.sendUpdate(saved[1]!);
    peer.sendUpdate(saved[0]!);
    expect((await within(peer.closed, 10_000, 'refusal')).code).toBe(CloseCode.POLICY_VIOLATION);
    // The first update was fine and stays; the deletion never happened.
    await bob.until(() => bob.roots.canon.has(m1.id), 'm1 canonical');
    const marker = bob.send('marker');
    await bob.until(() => bob.roots.canon.has(marker.id), 'marker');
    expect(bob.roots.messages.toJSON().map((m) => m.id)).toContain(m1.id);
  });
});
