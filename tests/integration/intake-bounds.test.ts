/**
 * Bounds of what one connection can make the relay hold (issue 28 test holes): an offline
 * backlog over SKEIN_MAX_BACKLOG_BYTES, a second large sync step 2 on one connection, and
 * updates held for missing dependencies (server/room/held-updates.ts: 256 updates or 4 MiB per
 * connection). Each is refused with its documented code; another member's messages are
 * sequenced meanwhile and nothing of the refused updates is stored.
 */
import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { CloseCode } from '../../shared/errors.ts';
import { encodeSyncStep2 } from '../../server/room/sync-protocol.ts';
import { threadRoots } from '../../shared/schema.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { synced } from '../helpers/y-client.ts';

const FRAME = 65_536;
const BACKLOG = 262_144;
const { relay, tokens, client } = relayFixture(
  { SKEIN_MAX_FRAME_BYTES: String(FRAME), SKEIN_MAX_BACKLOG_BYTES: String(BACKLOG), SKEIN_MAX_UPDATES_PER_SECOND: '10000' },
  ['alice', 'bob', 'mallory'],
);

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);
}

/** `n` updates of one new client, each appending one message of `textBytes` after the previous. */
function chain(n: number, textBytes: number): Uint8Array[] {
  const doc = new Y.Doc();
  const out: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => out.push(u));
  const messages = threadRoots(doc).messages;
  for (let i = 0; i < n; i++) messages.insert(messages.length, [{ id: ulid(), authorId: 'mallory', text: 'x'.repeat(textBytes), clientSentAt: Date.now() }]);
  return out;
}

/** Bob's message goes through while mallory is refused. */
async function bobStillSequenced(threadId: string): Promise<void> {
  const bob = client(threadId, 'bob');
  await synced(bob);
  const m = bob.send('still here');
  await bob.until(() => bob.roots.canon.has(m.id), 'bob’s message sequenced');
  expect(bob.closes).toEqual([]);
}

async function stored(threadId: string): Promise<number> {
  return (await relay.api('GET', `/v1/threads/${threadId}`, tokens.alice)).body.lastSeq;
}

describe('intake bounds', () => {
  it('an offline backlog over SKEIN_MAX_BACKLOG_BYTES closes 4413 and stores nothing', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'mallory']);
    const peer = rawPeer(relay.wsUrl, id, tokens.mallory!);
    await peer.synced;
    // 40 messages of 8 kB: about 320 kB in one first sync step 2.
    const backlog = Y.mergeUpdates(chain(40, 8000));
    expect(backlog.byteLength).toBeGreaterThan(BACKLOG);
    peer.sendRaw(encodeSyncStep2(backlog));
    expect((await within(peer.closed, 10_000, 'oversize backlog')).code).toBe(CloseCode.TOO_LARGE);
    await bobStillSequenced(id);
    expect(await stored(id)).toBe(1);
  });

  it('only the first sync step 2 of a connection may be larger than a live frame', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'mallory']);
    const peer = rawPeer(relay.wsUrl, id, tokens.mallory!);
    await peer.synced;
    const updates = chain(20, 8000);
    const first = Y.mergeUpdates(updates.slice(0, 10));
    const second = Y.mergeUpdates(updates.slice(10));
    expect(first.byteLength).toBeGreaterThan(FRAME);
    expect(second.byteLength).toBeGreaterThan(FRAME);
    peer.sendRaw(encodeSyncStep2(first));
    peer.sendRaw(encodeSyncStep2(second));
    expect((await within(peer.closed, 10_000, 'second large step 2')).code).toBe(CloseCode.TOO_LARGE);
    await bobStillSequenced(id);
    // The first was taken whole (10 messages), the second not at all.
    expect(await stored(id)).toBe(11);
  });

  it('updates held for missing dependencies are bounded per connection in number (256)', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'mallory']);
    const peer = rawPeer(relay.wsUrl, id, tokens.mallory!);
    await peer.synced;
    // The first update is never sent: each of the others waits for it.
    for (const u of chain(300, 10).slice(1)) peer.sendUpdate(u);
    const close = await within(peer.closed, 20_000, 'too many held updates');
    expect(close).toEqual({ code: CloseCode.RATE_LIMITED, reason: 'too many updates with missing dependencies' });
    await bobStillSequenced(id);
    expect(await stored(id)).toBe(1);
  });

  it('updates held for missing dependencies are bounded per connection in bytes (4 MiB)', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob', 'mallory']);
    const peer = rawPeer(relay.wsUrl, id, tokens.mallory!);
    await peer.synced;
    // 60-kB updates (each under the frame limit): 4 MiB is passed at about the 70th, far below 256.
    const updates = chain(90, 60_000).slice(1);
    expect(updates[0]!.byteLength).toBeLessThan(FRAME);
    for (const u of updates) peer.sendUpdate(u);
    const close = await within(peer.closed, 30_000, 'too many held bytes');
    expect(close).toEqual({ code: CloseCode.RATE_LIMITED, reason: 'too many updates with missing dependencies' });
    await bobStillSequenced(id);
    expect(await stored(id)).toBe(1);
  });
});
