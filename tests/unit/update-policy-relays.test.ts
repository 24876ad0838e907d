/**
 * The policy with other relay instances (fan-out, issue #13): another instance's relay
 * structs this one lacks wait for the store catch-up instead of being refused, and a peer
 * may never write with another instance's relay client id.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { threadRoots } from '../../shared/schema.ts';
import { type PolicyContext, checkUpdate } from '../../server/room/policy/update-policy.ts';

function setup() {
  const here = new Y.Doc();
  threadRoots(here).messages.insert(0, [{ id: '01HZZZZZZZZZZZZZZZZZZZZZZZ', authorId: 'alice', text: 'hi', clientSentAt: 1 }]);
  // Another instance's room of the thread, from the same stored log.
  const other = new Y.Doc();
  Y.applyUpdate(other, Y.encodeStateAsUpdate(here));
  let canon: Uint8Array | null = null;
  other.once('update', (u: Uint8Array) => (canon = u));
  threadRoots(other).canon.set('01HZZZZZZZZZZZZZZZZZZZZZZZ', { seq: 1, sentAt: 1, state: 'sent' });
  const ctx = (extra: Partial<PolicyContext>): PolicyContext => ({
    doc: here,
    roots: threadRoots(here),
    userId: 'bob',
    maxTextLength: 100,
    isKnownMessageId: () => true,
    ...extra,
  });
  return { here, other, canon: canon!, ctx };
}

describe('relay structs of another instance', () => {
  it('are refused from a peer when the relay runs alone', () => {
    const { canon, ctx } = setup();
    expect(checkUpdate(ctx({}), canon)).toMatchObject({ ok: false, reason: 'canon is written by the relay only' });
  });

  it('wait (pending) when the client id is a known relay of another instance', () => {
    const { canon, ctx, other } = setup();
    const v = checkUpdate(ctx({ isRelayClient: (c) => c === other.clientID, otherRelays: true }), canon);
    expect(v).toMatchObject({ ok: false, pending: true });
  });

  it('wait (pending) when the writer is unknown here and other instances exist', () => {
    const { canon, ctx } = setup();
    expect(checkUpdate(ctx({ otherRelays: true }), canon)).toMatchObject({ ok: false, pending: true });
  });

  it('once applied here, a peer continuing that client id is refused', () => {
    const { canon, ctx, here, other } = setup();
    Y.applyUpdate(here, canon);
    // The same bytes a peer continuing that client id would send (a Yjs doc would not keep it).
    let u: Uint8Array | null = null;
    other.once('update', (x: Uint8Array) => (u = x));
    threadRoots(other).receipts.set('01HZZZZZZZZZZZZZZZZZZZZZZZ|bob', { readAt: 1 });
    const v = checkUpdate(ctx({ otherRelays: true }), u!);
    expect(v).toMatchObject({ ok: false, reason: 'client id of the relay' });
  });
});
