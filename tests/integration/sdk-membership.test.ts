/**
 * Membership in the SDK (Node, fake-indexeddb, ws) against a real relay (issue 30): add,
 * remove and moderators through the client, and a removed member's client dropping the
 * thread's local data — live (4403 and the `removed` push) and after being closed while the
 * removal happened (the relay's list no longer names the thread).
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, SkeinRequestError, type ThreadView, createSkeinClient } from '../../client/index.ts';
import { HistoryStore } from '../../client/history/history-store.ts';
import { dbPrefix } from '../../client/local/local-store.ts';
import { CloseCode } from '../../shared/errors.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { untilView as until } from '../helpers/sdk-node.ts';

let relay: RelayProcess;
const tokens: Record<string, string> = {};
const clients: SkeinClient[] = [];

beforeAll(async () => {
  // Rolls every 5 messages: the removed member also has sealed-history pages to drop.
  relay = await startRelay({ SKEIN_GENERATION_MESSAGES: '5', SKEIN_MAX_MESSAGES_PER_SECOND: '1000', SKEIN_MESSAGE_BURST: '1000' });
  for (const u of ['alice', 'bob', 'carol', 'dave']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
});

async function client(userId: string): Promise<SkeinClient> {
  const c = await createSkeinClient({ relayUrl: relay.url, userId, getToken: () => tokens[userId]!, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket });
  clients.push(c);
  return c;
}

/** Names of the IndexedDB databases of `user` that hold documents of `threadId`. */
async function threadDatabases(user: string, threadId: string): Promise<string[]> {
  const prefix = dbPrefix(new URL(relay.url).origin, user);
  return (await indexedDB.databases()).map((d) => d.name!).filter((n) => n.startsWith(`${prefix}:thread:${threadId}`));
}

async function historyOf(user: string, threadId: string) {
  const h = await HistoryStore.open(`${dbPrefix(new URL(relay.url).origin, user)}:history`);
  try {
    return await h.range(threadId, 0, Number.MAX_SAFE_INTEGER);
  } finally {
    h.close();
  }
}

/** A thread by alice with bob in it, rolled (12 messages, generation 5 messages): bob's view holds it all. */
async function rolledThread(bob: SkeinClient): Promise<{ id: string; view: ThreadView }> {
  const alice = await client('alice');
  const { id } = await relay.createThread(tokens.alice!, ['bob', 'carol']);
  await alice.refreshThreads();
  const a = alice.openThread(id);
  await a.ready;
  for (let i = 0; i < 12; i++) {
    // One at a time: the SDK follows each roll to the next generation.
    const mid = await a.send(`history ${i}`);
    await until(a, (v) => v.messages.some((m) => m.id === mid && m.seq !== undefined), `message ${i} sequenced`);
  }
  await a.close();
  await bob.refreshThreads();
  const view = bob.openThread(id);
  await view.ready;
  await until(view, (v) => v.messages.length === 12 && v.syncInfo.state === 'SYNCED', 'bob has all 12, SYNCED');
  return { id, view };
}

describe('membership in the SDK', () => {
  it('the owner adds, names a moderator and removes through the client; a plain member is refused', async () => {
    const alice = await client('alice');
    const carol = await client('carol');
    const t = await alice.createThread({ title: 'members', participants: ['bob'] });
    expect(t).toMatchObject({ owner: 'alice', moderators: [] });
    expect((await alice.addMember(t.id, 'carol')).participants).toEqual(['alice', 'bob', 'carol']);
    await carol.refreshThreads();
    const refused = await carol.addMember(t.id, 'dave').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SkeinRequestError);
    expect((refused as SkeinRequestError).status).toBe(403);
    expect((await alice.setModerators(t.id, ['carol'])).moderators).toEqual(['carol']);
    expect((await carol.addMember(t.id, 'dave')).participants).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect((await carol.removeMember(t.id, 'bob'))!.participants).toEqual(['alice', 'carol', 'dave']);
  });

  it('a removed member’s open client closes the view (4403) and drops the documents, history pages and list entry', async () => {
    const bob = await client('bob');
    const { id, view } = await rolledThread(bob);
    expect(await threadDatabases('bob', id)).not.toEqual([]);
    expect((await historyOf('bob', id)).length).toBeGreaterThan(0);
    const removed = new Promise<string>((resolve) => bob.onThreadRemoved((t) => t === id && resolve(t)));
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.alice)).status).toBe(200);
    expect(await removed).toBe(id);
    expect(view.refused?.code ?? CloseCode.NOT_A_MEMBER).toBe(CloseCode.NOT_A_MEMBER);
    expect(await threadDatabases('bob', id)).toEqual([]);
    expect(await historyOf('bob', id)).toEqual([]);
    expect(bob.threads().map((t) => t.id)).not.toContain(id);
    // Opening it again is refused (4403, or the late `removed` push drops it first) and leaves nothing behind either.
    const removedAgain = new Promise<string>((resolve) => bob.onThreadRemoved((t) => t === id && resolve(t)));
    bob.openThread(id);
    await removedAgain;
    // The view opened again may still be starting (its database opening) when the `removed`
    // push drops the thread; its own 4403 drops it again, so the end state is what counts.
    await expect.poll(() => threadDatabases('bob', id), { timeout: 20_000 }).toEqual([]);
    // Another open client of bob's (a second tab) would drop the next test's thread for it.
    await bob.close();
  });

  it('a member removed while their client was closed drops the thread at the next start', async () => {
    const bob = await client('bob');
    const { id } = await rolledThread(bob);
    expect(await threadDatabases('bob', id)).not.toEqual([]);
    await bob.close();
    expect((await relay.api('DELETE', `/v1/threads/${id}/members/bob`, tokens.alice)).status).toBe(200);
    const later = await client('bob');
    // The cached list still names it until the relay answers.
    const removed = new Promise<string>((resolve) => later.onThreadRemoved((t) => t === id && resolve(t)));
    expect(await removed).toBe(id);
    expect(await threadDatabases('bob', id)).toEqual([]);
    expect(await historyOf('bob', id)).toEqual([]);
    expect(later.threads().map((t) => t.id)).not.toContain(id);
  });
});
