/**
 * Fuzz against a live relay: thousands of random and mutated frames (truncated,
 * bit-flipped, huge varint lengths, valid headers with junk) from a member's sockets,
 * while an honest pair keeps chatting. The relay must not crash, must close every socket
 * whose frame cannot be decoded, and must keep the honest thread intact.
 */
import * as encoding from 'lib0/encoding';
import { ulid } from 'ulid';
import WebSocket from 'ws';
import { expect, it } from 'vitest';
import * as Y from 'yjs';
import { MalformedFrameError, decodeFrame, encodeAwareness, encodeSyncStep1, encodeUpdate } from '../../server/room/sync-protocol.ts';
import { threadRoots } from '../../shared/schema.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { canonicalOrder, connectClient, synced } from '../helpers/y-client.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

const FRAMES = 2000;
const CONCURRENCY = 16;
const SEED = Number(process.env.SKEIN_FUZZ_SEED ?? 20261123);

// Generous rates: the fuzzer should reach the decoder and the policy, not the limiter.
const { relay, tokens, clients } = relayFixture({ SKEIN_MAX_CONNECTIONS_PER_USER: '64', SKEIN_MAX_UPDATES_PER_SECOND: '10000' }, ['alice', 'bob', 'fuzz']);

/** A valid append by the fuzz user, as an update frame. */
function validAppend(rnd: () => number): Uint8Array {
  return encodeUpdate(validAppendUpdate(rnd));
}

function validAppendUpdate(rnd: () => number): Uint8Array {
  const doc = new Y.Doc();
  let out: Uint8Array = new Uint8Array();
  doc.on('update', (u: Uint8Array) => (out = u));
  threadRoots(doc).messages.insert(0, [{ id: ulid(), authorId: 'fuzz', text: 'f'.repeat(Math.floor(rnd() * 40)), clientSentAt: 1 }]);
  doc.destroy();
  return out;
}

function hugeVarint(e: encoding.Encoder) {
  for (let i = 0; i < 7; i++) encoding.writeUint8(e, 0xff);
  encoding.writeUint8(e, 0x0f);
}

function fuzzFrame(rnd: () => number, i: number): Uint8Array | string {
  const pick = i % 9;
  const n = (k: number) => Math.floor(rnd() * k);
  const junk = (len: number) => Uint8Array.from({ length: len }, () => n(256));
  const base = [validAppend(rnd), encodeSyncStep1(new Uint8Array([0])), encodeAwareness(new Uint8Array([1, n(100), 1, 2, 0x7b, 0x7d]))][n(3)]!;
  switch (pick) {
    case 0: // truncated
      return base.slice(0, n(base.length));
    case 1: { // bit flips
      const b = new Uint8Array(base);
      for (let k = 0, flips = 1 + n(4); k < flips; k++) b[n(b.length)]! ^= 1 << n(8);
      return b;
    }
    case 2: { // valid sync header, huge payload length
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, n(3));
      hugeVarint(e);
      encoding.writeUint8Array(e, junk(n(32)));
      return encoding.toUint8Array(e);
    }
    case 3: { // valid update header, junk update
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 2);
      encoding.writeVarUint8Array(e, junk(1 + n(200)));
      return encoding.toUint8Array(e);
    }
    case 4: { // valid update header, update with a huge struct count / client / lengths
      const inner = encoding.createEncoder();
      encoding.writeVarUint(inner, 1);
      encoding.writeVarUint(inner, 2 ** 31 + n(1000));
      encoding.writeVarUint(inner, n(5));
      encoding.writeVarUint(inner, 0);
      encoding.writeUint8(inner, [0, 10, 8, 4, 7][n(5)]!);
      hugeVarint(inner);
      encoding.writeUint8Array(inner, junk(n(16)));
      return encodeUpdate(encoding.toUint8Array(inner));
    }
    case 5: // random bytes
      return junk(1 + n(300));
    case 6: { // unknown message types and sync steps
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, [2, 4, 7, 0, 200][n(5)]!);
      encoding.writeVarUint(e, 3 + n(10));
      encoding.writeUint8Array(e, junk(n(8)));
      return encoding.toUint8Array(e);
    }
    case 7: { // a well-framed update whose inner bytes are truncated or bit-flipped
      const u = new Uint8Array(validAppendUpdate(rnd));
      if (rnd() < 0.5) return encodeUpdate(u.slice(0, n(u.length)));
      for (let k = 0, flips = 1 + n(3); k < flips; k++) u[n(u.length)]! ^= 1 << n(8);
      return encodeUpdate(u);
    }
    default: // text frames
      return 'not binary ' + n(1000);
  }
}

/** Sends one fuzz frame on a fresh socket, then a sync step 1 probe. */
function attack(threadId: string, frame: Uint8Array | string): Promise<{ code: number | null; answered: boolean }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${relay.wsUrl}/${threadId}?token=${tokens.fuzz}`);
    let probeSent = false;
    let greeted = false;
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ code: null, answered: false });
    }, 20_000);
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      const b = new Uint8Array(data);
      // The relay greets with its sync step 1; an answer to our probe is a step 2.
      if (b[0] === 0 && b[1] === 0 && !greeted) {
        greeted = true;
        ws.send(frame);
        ws.send(encodeSyncStep1(new Uint8Array([0])));
        probeSent = true;
        return;
      }
      if (probeSent && b[0] === 0 && b[1] === 1) {
        clearTimeout(timer);
        ws.close();
        resolve({ code: null, answered: true });
      }
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, answered: false });
    });
  });
}

it(`survives ${FRAMES} hostile frames while an honest pair keeps syncing (seed ${SEED})`, async () => {
  const { id } = await relay.createThread(tokens.alice!, ['bob', 'fuzz']);
  const alice = connectClient(relay.wsUrl, id, tokens.alice!, 'alice');
  const bob = connectClient(relay.wsUrl, id, tokens.bob!, 'bob');
  clients.push(alice, bob);
  await Promise.all([synced(alice), synced(bob)]);
  const rnd = seededRandom(SEED);
  const frames = Array.from({ length: FRAMES }, (_, i) => fuzzFrame(rnd, i));
  const results: Array<{ code: number | null; answered: boolean }> = new Array(FRAMES);
  const honest: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < FRAMES) {
      const i = next++;
      results[i] = await attack(id, frames[i]!);
      if (i % 100 === 0) {
        const m = alice.send(`honest ${i}`);
        honest.push(m.id);
        await bob.until(() => bob.roots.canon.has(m.id), `honest message ${i} reaches bob`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  expect(relay.proc!.exitCode).toBeNull();
  let undecodable = 0;
  let accepted = 0;
  const codes = new Map<number | null, number>();
  for (let i = 0; i < FRAMES; i++) {
    const r = results[i]!;
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    const f = frames[i]!;
    let decodes = typeof f !== 'string';
    if (typeof f !== 'string') {
      try {
        decodeFrame(f);
      } catch (e) {
        if (!(e instanceof MalformedFrameError)) throw e;
        decodes = false;
      }
    }
    if (!decodes) {
      undecodable++;
      // Every frame that is not even a y-websocket frame closes its socket with 4400.
      expect(r, `frame ${i}`).toEqual({ code: 4400, answered: false });
    } else if (r.answered) accepted++;
    else expect([4400, 4402, 4413], `frame ${i}`).toContain(r.code);
  }
  console.log(`fuzz: ${FRAMES} frames, ${undecodable} undecodable, ${accepted} survived, close codes ${JSON.stringify([...codes])}`);
  expect(undecodable).toBeGreaterThan(FRAMES / 3);

  // The honest pair is untouched and the stored thread is intact.
  expect(alice.closes).toEqual([]);
  expect(bob.closes).toEqual([]);
  const history: any[] = [];
  for (let after = 0; ; ) {
    const page = (await relay.api('GET', `/v1/threads/${id}/messages?afterSeq=${after}&limit=1000`, tokens.bob)).body.messages;
    history.push(...page);
    if (page.length < 1000) break;
    after = page[page.length - 1].seq;
  }
  expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
  expect(history.every((m) => m.authorId === 'alice' || m.authorId === 'fuzz')).toBe(true);
  expect(history.filter((m) => m.authorId === 'alice').map((m) => m.id)).toEqual(honest);
  const fresh = connectClient(relay.wsUrl, id, tokens.bob!, 'bob');
  clients.push(fresh);
  await fresh.until(() => honest.every((h) => fresh.roots.canon.has(h)), 'fresh client has the thread');
  expect([...fresh.doc.share.keys()].sort()).toEqual(['canon', 'edits', 'messages', 'meta', 'owners', 'reactions', 'receipts', 'redactions', 'streams']);
  expect(canonicalOrder(fresh).map((o) => o.seq)).toEqual(history.map((m) => m.seq));
  expect(relay.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
}, 300_000);
