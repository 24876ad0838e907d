/**
 * Awareness is metered per user and thread, not per connection (issue 28,
 * SKEIN_MAX_AWARENESS_PER_SECOND / SKEIN_AWARENESS_BYTES_PER_SECOND): every change is relayed
 * to every member, so a member flooding presence from several sockets at once, or with large
 * states, is closed 4529 once its user's budget is spent, and what reaches the others stays
 * within the rate. An honest member's presence and messages flow meanwhile.
 */
import * as encoding from 'lib0/encoding';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { encodeAwareness } from '../../server/room/sync-protocol.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const PER_SECOND = 5;
const BYTES_PER_SECOND = 2048;

/** One awareness entry (clientID, clock, JSON state) as y-protocols encodes it. */
function awarenessUpdate(clientId: number, clock: number, state: unknown): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, clientId);
  encoding.writeVarUint(e, clock);
  encoding.writeVarString(e, JSON.stringify(state));
  return encoding.toUint8Array(e);
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);
}

describe('awareness per user and thread', () => {
  it('a flood from many sockets, or of large states, is cut 4529; the others get no more than the rate; honest presence flows', async () => {
    const relay = await startRelay({
      SKEIN_MAX_AWARENESS_PER_SECOND: String(PER_SECOND),
      SKEIN_AWARENESS_BYTES_PER_SECOND: String(BYTES_PER_SECOND),
      SKEIN_MAX_AWARENESS_BYTES: '4096',
    });
    onTestFinished(() => relay.stop());
    const tokens = { alice: await relay.token('alice'), bob: await relay.token('bob'), mallory: await relay.token('mallory') };
    expect((await relay.api('GET', '/v1/capabilities')).body.limits).toMatchObject({ awarenessPerSecond: PER_SECOND, awarenessBytesPerSecond: BYTES_PER_SECOND });
    const { id } = await relay.createThread(tokens.alice, ['bob', 'mallory']);
    const alice = connectClient(relay.wsUrl, id, tokens.alice, 'alice');
    const bob = connectClient(relay.wsUrl, id, tokens.bob, 'bob');
    onTestFinished(() => (alice.destroy(), bob.destroy()));
    await Promise.all([synced(alice), synced(bob)]);
    const seen = new Map<number, number>(); // awareness client id → changes bob received
    bob.provider.awareness.on('update', ({ added, updated }: { added: number[]; updated: number[] }) => {
      for (const c of added.concat(updated)) seen.set(c, (seen.get(c) ?? 0) + 1);
    });
    const seenAt = (clientId: number, clock: number) => (bob.provider.awareness.meta.get(clientId)?.clock ?? 0) >= clock;
    const bobSees = (what: string, pred: () => boolean) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => pred() && (bob.provider.awareness.off('change', check), bob.provider.awareness.off('update', check), resolve());
          bob.provider.awareness.on('update', check);
          check();
        }),
        20_000,
        what,
      );

    // Six sockets of one user, 8 changes each: each socket is under a per-socket burst of 10.
    const started = performance.now();
    const peers = Array.from({ length: 6 }, () => rawPeer(relay.wsUrl, id, tokens.mallory));
    await Promise.all(peers.map((p) => p.synced));
    const closes: Array<{ code: number } | null> = peers.map(() => null);
    peers.forEach((p, i) => void p.closed.then((c) => (closes[i] = c)));
    for (let clock = 1; clock <= 8; clock++) for (const p of peers) p.sendRaw(encodeAwareness(awarenessUpdate(p.doc.clientID, clock, { typing: clock })));
    await within(Promise.any(peers.map((p) => p.closed)), 20_000, 'a flooding socket is closed');
    // Every socket's flood is handled: it was closed, or bob has its last change.
    await Promise.all(peers.map((p, i) => Promise.race([p.closed, bobSees(`socket ${i} handled`, () => closes[i] !== null || seenAt(p.doc.clientID, 8))])));
    const relayed = peers.reduce((n, p) => n + (seen.get(p.doc.clientID) ?? 0), 0);
    const elapsedS = (performance.now() - started) / 1000;
    expect(closes.some((c) => c?.code === CloseCode.RATE_LIMITED)).toBe(true);
    expect(closes.every((c) => c === null || c.code === CloseCode.RATE_LIMITED)).toBe(true);
    expect(relayed).toBeLessThanOrEqual(2 * PER_SECOND + Math.ceil(PER_SECOND * elapsedS));
    console.log(`awareness flood: 48 changes from 6 sockets, ${relayed} relayed in ${elapsedS.toFixed(1)} s`);
    for (const p of peers) p.ws.close();

    // Large states: 3 of 3,000 bytes are within the count rate but over the byte burst (4,096).
    const big = rawPeer(relay.wsUrl, id, tokens.mallory);
    await big.synced;
    for (let clock = 1; clock <= 3; clock++) big.sendRaw(encodeAwareness(awarenessUpdate(big.doc.clientID, clock, { blob: 'z'.repeat(3000) })));
    expect((await within(big.closed, 20_000, 'large-state flood')).code).toBe(CloseCode.RATE_LIMITED);
    expect(seen.get(big.doc.clientID) ?? 0).toBeLessThanOrEqual(1);

    // Alice's presence and messages flow all along.
    for (let i = 1; i <= 3; i++) {
      alice.provider.awareness.setLocalState({ name: 'alice', typing: i });
      await bobSees(`alice's presence ${i}`, () => (bob.provider.awareness.getStates().get(alice.doc.clientID) as { typing?: number } | undefined)?.typing === i);
    }
    const m = alice.send('still here');
    await bob.until(() => bob.roots.canon.has(m.id), 'alice’s message sequenced');
    expect(alice.closes).toEqual([]);
    expect(bob.closes).toEqual([]);
  });
});
