/**
 * The disjoint-clients merge of batch rows against `Y.mergeUpdates`, over random documents:
 * several clients edit (messages, maps, text, XML, binary, subdocs, deletions) and the relay
 * writes canon and tombstones; each round's batch is merged both ways and applied to fresh
 * documents and to documents holding every earlier row.
 */
import { describe, expect, it } from 'vitest';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { concatDisjointUpdates, mergeUpdatesFast } from '../../server/room/disjoint-merge.ts';
import { batchRow } from '../../server/room/batch-frames.ts';
import { randomEdit, rng } from '../helpers/random-yjs.ts';

/**
 * Every root the random edits use, read as JSON (a fresh doc names roots on first get).
 * `withText: false` leaves Y.Text out: applying a remote update cleans up formatting in a
 * local transaction whose outcome depends on how the updates were split, so a doc fed the
 * single updates may format differently from one fed the rows (Yjs' own, with either merge).
 */
function snapshot(doc: Y.Doc, withText = true): unknown {
  return plain({
    messages: doc.getArray('messages').toJSON(),
    items: doc.getArray('items').toJSON(),
    canon: doc.getMap('canon').toJSON(),
    meta: doc.getMap('meta').toJSON(),
    text: withText ? doc.getText('text').toDelta() : null,
    xml: doc.getXmlFragment('xml').toString(),
  });
}

/** JSON with subdocs as their guid (a Doc's clientID is its own), bigints and bytes spelled out. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (v instanceof Y.Doc ? `doc:${v.guid}` : typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes:${[...v].join(',')}` : v)),
  );
}

/** A fresh doc with a fixed client id (formatting cleanups must run alike on both sides). */
function fresh(): Y.Doc {
  const doc = new Y.Doc();
  doc.clientID = 1_000_000;
  return doc;
}

function applied(updates: Uint8Array[], base?: Uint8Array): Y.Doc {
  const doc = fresh();
  if (base) Y.applyUpdate(doc, base);
  for (const u of updates) Y.applyUpdate(doc, u);
  return doc;
}

/** The update one transaction on `doc` produces (null: none). */
function updateOf(doc: Y.Doc, change: () => void): Uint8Array | null {
  let out: Uint8Array | null = null;
  const f = (u: Uint8Array) => (out = u);
  doc.on('update', f);
  doc.transact(change);
  doc.off('update', f);
  return out;
}

/** Client ids of an update's struct sections, in the order they are written. */
function sectionClients(update: Uint8Array): number[] {
  const clients: number[] = [];
  for (const s of Y.decodeUpdate(update).structs) if (clients.at(-1) !== s.id.client) clients.push(s.id.client);
  return clients;
}

/** Runs one random history; returns how many rows took the fast path and how many fell back. */
function runHistory(seed: number, rounds: number): { fast: number; fallback: number } {
  const r = rng(seed);
  const relay = new Y.Doc();
  // Ids across the varuint sizes, one above 2^31, and the relay's neither highest nor lowest.
  relay.clientID = 900_000;
  const clients = [3, 200, 70_000, 4_294_967_000].map((id) => {
    const d = new Y.Doc();
    d.clientID = id;
    return d;
  });
  const rowsFast: Uint8Array[] = [];
  const rowsMerged: Uint8Array[] = [];
  let fast = 0;
  let fallback = 0;
  let seq = 0;
  const logged: Uint8Array[] = [];
  // Documents holding every earlier row (fast / Y.mergeUpdates) and every single update.
  const prefixFast = fresh();
  const prefixMerged = fresh();
  const prefixLog = fresh();
  for (let round = 0; round < rounds; round++) {
    for (const c of clients) if (r() < 0.6) Y.applyUpdate(c, Y.encodeStateAsUpdate(relay, Y.encodeStateVector(c)));
    const batch: Uint8Array[] = [];
    for (const c of clients) {
      // Sometimes two updates of one client in a batch: the fall-back path.
      const times = r() < 0.4 ? 0 : r() < 0.9 ? 1 : 2;
      for (let t = 0; t < times; t++) {
        const u = updateOf(c, () => {
          for (let e = 1 + Math.floor(r() * 3); e > 0; e--) randomEdit(c, r, `${c.clientID}-${round}-${t}-${e}`);
        });
        if (u) batch.push(u);
      }
    }
    for (const u of batch) Y.applyUpdate(relay, u);
    // The relay's part: canon for new messages, a canon rewrite, tombstones of client items.
    const relayUpdate = updateOf(relay, () => {
      const canon = relay.getMap<unknown>('canon');
      const messages = relay.getArray<{ id: string }>('messages');
      for (const m of messages.toArray()) if (!canon.has(m.id)) canon.set(m.id, { seq: ++seq, sentAt: 1, state: 'sent' });
      const keys = [...canon.keys()];
      if (keys.length && r() < 0.5) canon.set(keys[Math.floor(r() * keys.length)]!, { seq: 0, state: 'confirmed' });
      if (messages.length && r() < 0.3) messages.delete(Math.floor(r() * messages.length), 1);
      const text = relay.getText('text');
      if (text.length && r() < 0.3) text.delete(0, Math.min(2, text.length));
    });
    const all = relayUpdate ? [...batch, relayUpdate] : batch;
    if (all.length === 0) continue;
    if (all.length === 1) {
      logged.push(all[0]!);
      rowsFast.push(all[0]!);
      rowsMerged.push(all[0]!);
      for (const d of [prefixFast, prefixMerged, prefixLog]) Y.applyUpdate(d, all[0]!);
      continue;
    }
    const merged = Y.mergeUpdates(all);
    const mine = concatDisjointUpdates(all);
    if (mine === null) {
      fallback++;
      expect(mergeUpdatesFast(all)).toEqual(merged);
    } else {
      fast++;
      // Same document, fresh and on every earlier row.
      const a = applied([mine]);
      const b = applied([merged]);
      expect(Y.encodeStateAsUpdate(a)).toEqual(Y.encodeStateAsUpdate(b));
      expect(snapshot(a)).toEqual(snapshot(b));
      // The delete set is Yjs' own: same clients, ranges sorted and merged.
      expect(Y.decodeUpdate(mine).ds).toEqual(Y.decodeUpdate(merged).ds);
      // Sections descend (Y.mergeUpdates relies on it); each client in one section.
      const order = sectionClients(mine);
      expect(order).toEqual([...new Set(order)].sort((x, y) => y - x));
      expect(Y.encodeStateVector(a)).toEqual(Y.encodeStateVector(b));
    }
    const row = mergeUpdatesFast(all);
    rowsFast.push(row);
    rowsMerged.push(merged);
    logged.push(...all);
    Y.applyUpdate(prefixFast, row);
    Y.applyUpdate(prefixMerged, merged);
    for (const u of all) Y.applyUpdate(prefixLog, u);
    expect(Y.encodeStateAsUpdate(prefixFast)).toEqual(Y.encodeStateAsUpdate(prefixMerged));
    expect(snapshot(prefixFast)).toEqual(snapshot(prefixMerged));
    expect(snapshot(prefixFast, false)).toEqual(snapshot(prefixLog, false));
  }
  // Compaction merges the stored rows with Y.mergeUpdates: same document either way.
  const compactFast = applied([Y.mergeUpdates(rowsFast)]);
  expect(Y.encodeStateAsUpdate(compactFast)).toEqual(Y.encodeStateAsUpdate(applied([Y.mergeUpdates(rowsMerged)])));
  expect(snapshot(compactFast, false)).toEqual(snapshot(relay, false));
  return { fast, fallback };
}

describe('disjoint-clients merge', () => {
  it('gives the document Y.mergeUpdates gives, over random histories', () => {
    let fast = 0;
    let fallback = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const n = runHistory(seed, 25);
      fast += n.fast;
      fallback += n.fallback;
    }
    // Both paths ran many times.
    expect(fast).toBeGreaterThan(300);
    expect(fallback).toBeGreaterThan(50);
  });

  it('unites delete sets naming the same client from several updates', () => {
    const base = new Y.Doc();
    base.clientID = 10;
    const arr = base.getArray<number>('a');
    arr.push([1, 2, 3, 4, 5, 6, 7, 8]);
    const [c1, c2, relay] = [20, 30, 5].map((id) => {
      const d = new Y.Doc();
      d.clientID = id;
      Y.applyUpdate(d, Y.encodeStateAsUpdate(base));
      return d;
    });
    // Overlapping, adjacent and separate ranges of client 10, from three updates.
    const u1 = updateOf(c1!, () => c1!.getArray('a').delete(1, 2))!;
    const u2 = updateOf(c2!, () => {
      c2!.getArray('a').delete(2, 2);
      c2!.getArray('a').push([9]);
    })!;
    const u3 = updateOf(relay!, () => {
      relay!.getArray('a').delete(7, 1);
      relay!.getArray('a').delete(0, 1);
    })!;
    const all = [u1, u2, u3];
    const mine = concatDisjointUpdates(all)!;
    expect(mine).not.toBeNull();
    expect(Y.decodeUpdate(mine).ds).toEqual(Y.decodeUpdate(Y.mergeUpdates(all)).ds);
    const doc = applied([mine], Y.encodeStateAsUpdate(base));
    expect(doc.getArray('a').toJSON()).toEqual([5, 6, 7, 9]);
    expect(Y.encodeStateAsUpdate(doc)).toEqual(Y.encodeStateAsUpdate(applied([Y.mergeUpdates(all)], Y.encodeStateAsUpdate(base))));
  });

  it('copies legacy JSON content (ref 2) it never builds', () => {
    // One struct of client 7: a map entry `m.k` with ContentJSON ["x", undefined].
    const e = encoding.createEncoder();
    for (const n of [1, 1, 7, 0]) encoding.writeVarUint(e, n); // 1 client, 1 struct, client 7, clock 0
    encoding.writeUint8(e, 2 | 0x20); // JSON, parentSub
    encoding.writeVarUint(e, 1); // parent is a root key
    encoding.writeVarString(e, 'm');
    encoding.writeVarString(e, 'k');
    encoding.writeVarUint(e, 2);
    encoding.writeVarString(e, '"x"');
    encoding.writeVarString(e, 'undefined');
    encoding.writeVarUint(e, 0); // no deletions
    const legacy = encoding.toUint8Array(e);
    const other = new Y.Doc();
    other.clientID = 8;
    other.getMap('m').set('j', 1);
    const all = [legacy, Y.encodeStateAsUpdate(other)];
    const mine = concatDisjointUpdates(all)!;
    expect(mine).not.toBeNull();
    expect(Y.encodeStateAsUpdate(applied([mine]))).toEqual(Y.encodeStateAsUpdate(applied([Y.mergeUpdates(all)])));
    expect(applied([mine]).getMap('m').toJSON()).toEqual({ j: 1, k: undefined });
  });

  it('falls back to Y.mergeUpdates when a client is in two updates, on Skip structs and on odd bytes', () => {
    const d = new Y.Doc();
    d.clientID = 1;
    const u1 = updateOf(d, () => d.getArray('a').push(['a']))!;
    const u2 = updateOf(d, () => d.getArray('a').push(['b']))!;
    expect(concatDisjointUpdates([u1, u2])).toBeNull();
    expect(mergeUpdatesFast([u1, u2])).toEqual(Y.mergeUpdates([u1, u2]));

    // A gap in client 1 (u1 and u3 without u2): Y.mergeUpdates writes a Skip struct.
    const u3 = updateOf(d, () => d.getArray('a').push(['c']))!;
    const gapped = Y.mergeUpdates([u1, u3]);
    const o = new Y.Doc();
    o.clientID = 2;
    const other = updateOf(o, () => o.getArray('a').push(['z']))!;
    expect(concatDisjointUpdates([gapped, other])).toBeNull();
    expect(mergeUpdatesFast([gapped, other])).toEqual(Y.mergeUpdates([gapped, other]));

    // Trailing bytes, a truncated update, an unknown content ref: null, never a throw.
    expect(concatDisjointUpdates([new Uint8Array([...u1, 0]), other])).toBeNull();
    expect(concatDisjointUpdates([u1.subarray(0, u1.length - 3), other])).toBeNull();
    const badRef = Uint8Array.from(u1);
    badRef[4] = (badRef[4]! & 0xe0) | 11;
    expect(concatDisjointUpdates([badRef, other])).toBeNull();
    // Y.mergeUpdates' own verdict stands on such input: what it throws, mergeUpdatesFast throws.
    expect(() => Y.mergeUpdates([badRef, other])).toThrow();
    expect(() => mergeUpdatesFast([badRef, other])).toThrow();
  });

  it('is what batchRow stores: a client message and the relay canon in one row', () => {
    const relay = new Y.Doc();
    const client = new Y.Doc();
    const u = updateOf(client, () => client.getArray('messages').push([{ id: 'm1', authorId: 'alice', text: 'hello', clientSentAt: 1 }]))!;
    Y.applyUpdate(relay, u);
    const canon = updateOf(relay, () => relay.getMap('canon').set('m1', { seq: 1, sentAt: 2, state: 'sent' }))!;
    const row = batchRow([u], canon);
    expect(row.relay).toBe(canon);
    expect(row.merged).toEqual(concatDisjointUpdates([u, canon]));
    expect(snapshot(applied([row.merged]))).toEqual(snapshot(relay));
  });
});
