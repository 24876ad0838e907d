/**
 * Two relay processes share one thread through AT: one dev-env PDS + PLC with an account per
 * relay, each relay mirroring into its own repo and ingesting the PDS's firehose.
 */
import 'fake-indexeddb/auto';
import { AtpAgent } from '@atproto/api';
import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { createSkeinClient } from '../../client/index.ts';
import { MESSAGE_NSID, THREAD_NSID } from '../../shared/at-lexicon.ts';
import { editKey, reactionKey, revisionsOf } from '../../shared/message-lifecycle.ts';
import { type CanonInfo, remoteAuthorId } from '../../shared/schema.ts';
import { useAtNetwork } from '../helpers/at-fixture.ts';
import type { TestAccount } from '../helpers/at-network.ts';
import { eventually } from '../helpers/eventually.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const ADMIN = 'admin-token-for-shared-thread-0123456789';
const fx = useAtNetwork();
const { relays, clients } = fx;

interface Side {
  relay: RelayProcess;
  account: TestAccount;
}

/** A relay mirroring into `account`'s repo and ingesting the PDS (the source is kept in its data dir). */
async function relayFor(account: TestAccount, dataDir?: string, env: Record<string, string> = {}): Promise<RelayProcess> {
  const relay = await startRelay(
    {
      SKEIN_ATPROTO_SERVICE: fx.net.url,
      SKEIN_ATPROTO_IDENTIFIER: account.handle,
      SKEIN_ATPROTO_PASSWORD: account.password,
      SKEIN_BRIDGE_BACKOFF_BASE_MS: '100',
      SKEIN_BRIDGE_BACKOFF_MAX_MS: '1000',
      SKEIN_ADMIN_TOKEN: ADMIN,
      SKEIN_PLC_URL: fx.net.plcUrl,
      SKEIN_INGEST_BACKOFF_BASE_MS: '100',
      ...env,
    },
    dataDir,
  );
  relays.push(relay);
  if (!dataDir) {
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 30_000);
    const from = relay.logs.length;
    const src = await relay.api('POST', '/v1/admin/federation/sources', ADMIN, {
      kind: 'PDS',
      name: 'shared-pds',
      serviceEndpoint: fx.net.url,
      isEnabled: true,
      allowIngest: true,
      rateLimitPerMinute: 60_000,
    });
    expect(src.status).toBe(201);
    await relay.waitForLog((l) => l.event === 'ingest_source_connected', 30_000, from);
  }
  return relay;
}

async function pair(): Promise<{ a: Side; b: Side }> {
  const [accA, accB] = [await fx.net.createAccount('relaya'), await fx.net.createAccount('relayb')];
  const [ra, rb] = await Promise.all([relayFor(accA), relayFor(accB)]);
  return { a: { relay: ra, account: accA }, b: { relay: rb, account: accB } };
}

function client(relay: RelayProcess, threadId: string, user: string, token: string, doc?: Y.Doc): TestClient {
  const c = connectClient(relay.wsUrl, threadId, token, user, doc);
  clients.push(c);
  return c;
}

const canonOf = (c: TestClient, id: string) => c.roots.canon.get(id) as CanonInfo | undefined;
const allConfirmed = (c: TestClient, ids: string[]) => () => ids.every((id) => canonOf(c, id)?.state === 'confirmed');

/** alice on A creates a mirrored thread with B's DID as remote member; bob on B follows it. */
async function sharedThread(a: Side, b: Side) {
  const alice = await a.relay.token('alice');
  const bob = await b.relay.token('bob');
  const origin = await a.relay.api('POST', '/v1/threads', alice, { title: 'shared', mirror: true });
  expect(origin.status).toBe(201);
  const atUri = origin.body.atUri as string;
  expect(atUri).toBe(`at://${a.account.did}/${THREAD_NSID}/${origin.body.id}`);
  expect((await a.relay.api('POST', `/v1/threads/${origin.body.id}/remotes`, alice, { did: b.account.did })).status).toBe(200);
  const follow = await b.relay.api('POST', '/v1/threads', bob, { title: 'shared (B)', follow: atUri });
  expect(follow.status).toBe(201);
  expect(follow.body).toMatchObject({ atUri, mirror: true, remotes: [a.account.did] });
  return { alice, bob, threadA: origin.body.id as string, threadB: follow.body.id as string, atUri };
}

type Listed = { id: string; seq: number; authorId: string; text: string };
const listed = async (relay: RelayProcess, threadId: string, token: string): Promise<Listed[]> =>
  (await relay.api('GET', `/v1/threads/${threadId}/messages?limit=1000`, token)).body.messages;


const gapFree = (l: Listed[]) => expect(l.map((m) => m.seq)).toEqual(l.map((_, i) => i + 1));

// Each test starts and restarts relays that each boot an AT service (30-45 s on a loaded
// 2-core machine, measured): the suite-wide 60 s is too tight for them, not for what they wait on.
describe('two relays share one thread through AT', { timeout: 180_000 }, () => {
  it('messages flow both ways, each exactly once, gap-free on each relay; the thread record is written', async () => {
    const { a, b } = await pair();
    const { alice, bob, threadA, threadB, atUri } = await sharedThread(a, b);
    const ca = client(a.relay, threadA, 'alice', alice);
    const cb = client(b.relay, threadB, 'bob', bob);
    await Promise.all([synced(ca), synced(cb)]);

    const fromAlice = [ca.send('hello from A').id, ca.send('second from A').id];
    await cb.until(allConfirmed(cb, fromAlice), 'alice’s messages on B', 60_000);
    const fromBob = [cb.send('reply from B').id];
    await ca.until(allConfirmed(ca, [...fromAlice, ...fromBob]), 'bob’s reply on A', 60_000);
    await cb.until(allConfirmed(cb, fromBob), 'bob’s reply confirmed on B', 60_000);

    const [la, lb] = [await listed(a.relay, threadA, alice), await listed(b.relay, threadB, bob)];
    gapFree(la);
    gapFree(lb);
    const all = [...fromAlice, ...fromBob].sort();
    expect(la.map((m) => m.id).sort()).toEqual(all);
    expect(lb.map((m) => m.id).sort()).toEqual(all);
    expect(lb.find((m) => m.id === fromAlice[0])).toMatchObject({ authorId: remoteAuthorId('alice', a.account.did), text: 'hello from A' });
    expect(la.find((m) => m.id === fromBob[0])).toMatchObject({ authorId: remoteAuthorId('bob', b.account.did), text: 'reply from B' });

    // Each relay saw its own records come back on the firehose and did not double them.
    const own = await a.relay.api('GET', `/v1/admin/federation/commits?did=${a.account.did}`, ADMIN);
    expect(own.body.commits.flatMap((c: any) => c.operations).filter((o: any) => o.collection === MESSAGE_NSID).every((o: any) => o.reason === 'own_record')).toBe(true);

    // The thread record exists, and message records name the thread by its URI.
    const agent = new AtpAgent({ service: fx.net.url });
    const rec = await agent.com.atproto.repo.getRecord({ repo: a.account.did, collection: THREAD_NSID, rkey: threadA });
    expect(rec.data.value).toMatchObject({ title: 'shared' });
    const msg = await agent.com.atproto.repo.getRecord({ repo: b.account.did, collection: MESSAGE_NSID, rkey: fromBob[0]! });
    expect(msg.data.value).toMatchObject({ threadUri: atUri, thread: threadB });
    expect(cb.roots.meta.get('atUri')).toBe(atUri);

    // Following twice, or following one's own thread, is refused.
    expect((await b.relay.api('POST', '/v1/threads', bob, { follow: atUri })).status).toBe(409);
    expect((await a.relay.api('POST', '/v1/threads', alice, { follow: atUri })).status).toBe(400);
    expect((await b.relay.api('POST', '/v1/threads', bob, { follow: 'at://nope' })).status).toBe(400);
  });

  it('joining brings the history: messages written before B followed (and B’s before A let it in) arrive once, in order; the title comes from the thread record', async () => {
    const { a, b } = await pair();
    const alice = await a.relay.token('alice');
    const bob = await b.relay.token('bob');
    const origin = await a.relay.api('POST', '/v1/threads', alice, { title: 'history', mirror: true });
    const threadA = origin.body.id as string;
    const atUri = origin.body.atUri as string;
    const ca = client(a.relay, threadA, 'alice', alice);
    await synced(ca);
    // Two ids of one millisecond whose order is not the send order (ULIDs are not monotonic):
    // B's backfill must keep A's order, not the ids'.
    const ms = ulid().slice(0, 10);
    // One update, so one commit: the same sentAt for both.
    const early: string[] = [];
    ca.doc.transact(() => early.push(ca.send('written before the join', { id: `${ms}${'Z'.repeat(16)}` }).id, ca.send('also before', { id: `${ms}${'0'.repeat(16)}` }).id));
    await ca.until(allConfirmed(ca, early), 'alice’s early messages mirrored', 60_000);
    // B's firehose consumer already saw them and turned them away: B had no such thread.
    const seenByB = await eventually(
      async () => (await b.relay.api('GET', `/v1/admin/federation/commits?did=${a.account.did}`, ADMIN)).body.commits as any[],
      (l) => early.every((id) => l.some((c) => c.operations.some((o: any) => o.rkey === id))),
      'B saw alice’s commits',
    );
    expect(seenByB.flatMap((c) => c.operations).filter((o: any) => early.includes(o.rkey)).map((o: any) => o.reason)).toEqual(['unknown_thread', 'unknown_thread']);
    const agent = new AtpAgent({ service: fx.net.url });
    await eventually(
      () => agent.com.atproto.repo.getRecord({ repo: a.account.did, collection: THREAD_NSID, rkey: threadA }).then(() => true, () => false),
      (ok) => ok,
      'A’s thread record written',
    );
    // B follows before A lets it in: B's first message is rejected by A for now.
    const follow = await b.relay.api('POST', '/v1/threads', bob, { follow: atUri });
    expect(follow.status).toBe(201);
    const threadB = follow.body.id as string;
    expect(follow.body.title).toBe('history');
    const cb = client(b.relay, threadB, 'bob', bob);
    const onB = async () => (await listed(b.relay, threadB, bob)).map((m) => m.id);
    await eventually(onB, (ids) => early.every((id) => ids.includes(id)), 'alice’s early messages backfilled on B');
    await synced(cb);
    const fromBob = cb.send('bob before A let B in').id;
    await cb.until(allConfirmed(cb, [fromBob]), 'bob’s message mirrored', 60_000);
    const rejected = await eventually(
      async () => (await a.relay.api('GET', `/v1/admin/federation/commits?did=${b.account.did}`, ADMIN)).body.commits as any[],
      (l) => l.some((c) => c.operations.some((o: any) => o.rkey === fromBob)),
      'A saw bob’s commit',
    );
    expect(rejected.flatMap((c) => c.operations).find((o: any) => o.rkey === fromBob)).toMatchObject({ status: 'rejected', reason: 'not_a_remote_member' });
    // Adding B as remote member backfills B's repo into A's thread.
    expect((await a.relay.api('POST', `/v1/threads/${threadA}/remotes`, alice, { did: b.account.did })).status).toBe(200);
    await ca.until(allConfirmed(ca, [...early, fromBob]), 'bob’s earlier message on A', 60_000);
    // From now on the firehose carries the messages both ways; nothing arrives twice.
    const later = ca.send('after both joined').id;
    await cb.until(allConfirmed(cb, [...early, fromBob, later]), 'alice’s later message on B', 60_000);
    const [la, lb] = [await listed(a.relay, threadA, alice), await listed(b.relay, threadB, bob)];
    gapFree(la);
    gapFree(lb);
    expect(lb.map((m) => m.id)).toEqual([...early, fromBob, later]);
    expect(la.map((m) => m.id)).toEqual([...early, fromBob, later]);
    expect(lb[0]).toMatchObject({ authorId: remoteAuthorId('alice', a.account.did), text: 'written before the join' });

    // A's thread record now lists B: a third relay joining later lets both A and B in and
    // brings what each of them wrote.
    await eventually(
      async () => (await agent.com.atproto.repo.getRecord({ repo: a.account.did, collection: THREAD_NSID, rkey: threadA })).data.value as any,
      (v) => JSON.stringify(v.members) === JSON.stringify([b.account.did]),
      'B listed in A’s thread record',
    );
    const accC = await fx.net.createAccount('relayc');
    const c = await relayFor(accC);
    const carol = await c.token('carol');
    const joined = await c.api('POST', '/v1/threads', carol, { follow: atUri });
    expect(joined.status).toBe(201);
    expect(joined.body).toMatchObject({ title: 'history', remotes: [a.account.did, b.account.did] });
    const lc = await eventually(() => listed(c, joined.body.id, carol), (l) => l.length === 4, 'the whole thread on C');
    gapFree(lc);
    expect(lc.map((m) => m.id)).toEqual([...early, fromBob, later]);
    expect(lc[2]).toMatchObject({ authorId: remoteAuthorId('bob', b.account.did), text: 'bob before A let B in' });
  });

  it('an edit and a deletion on A reach B (rows, live document, a new member’s sync); reactions stay on their relay; B’s owner may not delete A’s messages', async () => {
    const { a, b } = await pair();
    const { alice, bob, threadA, threadB } = await sharedThread(a, b);
    const ca = client(a.relay, threadA, 'alice', alice);
    const cb = client(b.relay, threadB, 'bob', bob);
    await Promise.all([synced(ca), synced(cb)]);
    const secret = `SHARED-SECRET-${ulid()}`;
    const kept = ca.send('with a typo').id;
    const gone = ca.send(secret).id;
    const fromBob = cb.send('bob on B').id;
    await cb.until(allConfirmed(cb, [kept, gone, fromBob]), 'alice’s messages on B', 60_000);
    await ca.until(allConfirmed(ca, [fromBob]), 'bob’s message on A', 60_000);
    const textOn = (c: TestClient, id: string) => revisionsOf(c.roots.edits.entries(), id).at(-1)?.text ?? c.roots.messages.toArray().find((m) => m.id === id)?.text;
    const seqsBefore = (await listed(b.relay, threadB, bob)).map((m) => [m.id, m.seq]);

    // Reactions are relay-local (not mirrored, like receipts): each stays where it was made.
    ca.roots.reactions.set(reactionKey(kept, 'alice', '🎉'), { at: Date.now() });
    cb.roots.reactions.set(reactionKey(kept, 'bob', '👍'), { at: Date.now() });
    cb.roots.reactions.set(reactionKey(fromBob, 'bob', '❤️'), { at: Date.now() });

    // Edit on A: the record is rewritten; B shows the new text as an edit, same seq.
    ca.roots.edits.set(editKey(kept, ulid()), { text: 'with the typo fixed', editedAt: Date.now() });
    await cb.until(() => textOn(cb, kept) === 'with the typo fixed', 'the edit on B', 60_000);
    await eventually(() => listed(b.relay, threadB, bob), (l) => l.find((m) => m.id === kept)?.text === 'with the typo fixed', 'B’s row edited');

    // B's owner may not delete a message whose record is in A's repo (B could not delete the
    // record, so A and C would keep showing it): the marker is removed again by B and the
    // message stays; the writer is not closed (it may have written the marker offline).
    const rogue = client(b.relay, threadB, 'bob', bob);
    await synced(rogue);
    rogue.roots.redactions.set(kept, { by: 'bob', at: Date.now() });
    await rogue.until(() => !rogue.roots.redactions.has(kept), 'the marker removed again by B', 30_000);
    expect(textOn(cb, kept)).toBe('with the typo fixed');
    expect(rogue.closes).toEqual([]);
    rogue.destroy();
    // The SDK refuses it before writing anything (and the app hides Delete: the same rule).
    const sdk = await createSkeinClient({ relayUrl: b.relay.url, userId: 'bob', getToken: () => bob, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket });
    try {
      const view = sdk.openThread(threadB);
      await eventually(async () => view.messages.find((m) => m.id === kept), (m) => !!m, 'the SDK shows alice’s message');
      await expect(view.delete(kept)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    } finally {
      await sdk.close();
    }

    // Deletion on A: the record is deleted; B redacts the message (marker, document, rows).
    ca.roots.redactions.set(gone, { by: 'alice', at: Date.now() });
    await cb.until(() => cb.roots.redactions.has(gone) && textOn(cb, gone) === undefined, 'the deletion on B', 60_000);
    expect(cb.roots.redactions.get(gone)).toMatchObject({ by: remoteAuthorId('alice', a.account.did) });
    const lb = await eventually(() => listed(b.relay, threadB, bob), (l) => l.find((m) => m.id === gone)?.text === '', 'B’s row emptied');
    expect(lb.map((m) => [m.id, m.seq])).toEqual(seqsBefore);
    gapFree(lb);
    expect(lb.find((m) => m.id === gone)).toMatchObject({ redacted: true });
    expect(textOn(cb, kept)).toBe('with the typo fixed');

    // A new member of B's thread syncs no deleted text.
    const carol = await b.relay.token('carol');
    expect((await b.relay.api('POST', `/v1/threads/${threadB}/members`, bob, { userId: 'carol' })).status).toBe(200);
    const cc = client(b.relay, threadB, 'carol', carol);
    await synced(cc);
    const state = Buffer.from(Y.encodeStateAsUpdate(cc.doc));
    expect(state.includes('with the typo fixed')).toBe(true); // the test can fail
    expect(state.includes(secret)).toBe(false);

    // Reactions never crossed, and nothing about them broke the thread on either side.
    const reactionKeys = (c: TestClient) => [...c.roots.reactions.keys()].sort();
    expect(reactionKeys(ca)).toEqual([reactionKey(kept, 'alice', '🎉')]);
    expect(reactionKeys(cb)).toEqual([reactionKey(fromBob, 'bob', '❤️'), reactionKey(kept, 'bob', '👍')].sort());
    expect(textOn(ca, kept)).toBe('with the typo fixed');
    expect(ca.roots.messages.toArray().some((m) => m.id === gone)).toBe(false);
    for (const relay of [a.relay, b.relay]) expect(relay.rawLog.join('\n')).not.toContain(secret);
  });

  it('a third repo naming the thread is rejected; after A removes B, B’s new messages stop reaching A', async () => {
    const { a, b } = await pair();
    const { alice, bob, threadA, threadB, atUri } = await sharedThread(a, b);
    const stranger = await fx.net.createAccount('stranger');
    await fx.net.writeRecords(stranger, [{ rkey: ulid(), value: { thread: 'x', threadUri: atUri, author: 'mallory', text: 'let me in', seq: 1, sentAt: new Date().toISOString() } }]);
    for (const side of [a, b]) {
      const [c] = await eventually(
        async () => (await side.relay.api('GET', `/v1/admin/federation/commits?did=${stranger.did}`, ADMIN)).body.commits,
        (l: any[]) => l.length === 1,
        'stranger commit logged',
      );
      expect(c).toMatchObject({ status: 'rejected', reason: 'not_a_remote_member' });
    }

    const cb = client(b.relay, threadB, 'bob', bob);
    await synced(cb);
    const before = cb.send('before removal').id;
    await eventually(() => listed(a.relay, threadA, alice), (l) => l.some((m) => m.id === before), 'bob’s first message on A');
    expect((await a.relay.api('DELETE', `/v1/threads/${threadA}/remotes/${encodeURIComponent(b.account.did)}`, alice)).status).toBe(200);
    const after = cb.send('after removal').id;
    await cb.until(allConfirmed(cb, [after]), 'mirrored by B', 60_000);
    const commits = await eventually(
      async () => (await a.relay.api('GET', `/v1/admin/federation/commits?did=${b.account.did}`, ADMIN)).body.commits as any[],
      (l) => l.some((c) => c.operations.some((o: any) => o.rkey === after)),
      'A received the commit',
    );
    const op = commits.flatMap((c) => c.operations).find((o: any) => o.rkey === after);
    expect(op).toMatchObject({ status: 'rejected', reason: 'not_a_remote_member' });
    expect((await listed(a.relay, threadA, alice)).map((m) => m.id)).toEqual([before]);
  });

  it('after both relays restart (A killed right after a PDS write), both hold the same messages, each once', async () => {
    const { a, b } = await pair();
    const { alice, bob, threadA, threadB } = await sharedThread(a, b);
    // Restart A with the crash hook: it SIGKILLs itself right after its first applyWrites,
    // before its store knows the records were written.
    await a.relay.stop();
    const crashing = await relayFor(a.account, a.relay.dataDir, { SKEIN_TEST_CRASH_AFTER_AT_WRITE: '1' });
    const exited = new Promise<NodeJS.Signals | null>((r) => crashing.proc!.once('exit', (_c, sig) => r(sig)));
    const docA = new Y.Doc();
    const ca = client(crashing, threadA, 'alice', alice, docA);
    await synced(ca);
    const ids = Array.from({ length: 12 }, (_, i) => ca.send(`burst ${i}`).id);
    expect(await exited).toBe('SIGKILL');
    ca.destroy();

    const againA = await relayFor(a.account, a.relay.dataDir);
    // The same document reconnects: whatever the relay had not stored is delivered now.
    const ca2 = client(againA, threadA, 'alice', await againA.token('alice'), docA);
    await ca2.until(allConfirmed(ca2, ids), 'all of alice’s burst mirrored after the crash', 60_000);

    await b.relay.stop();
    const againB = await relayFor(b.account, b.relay.dataDir);
    const cb = client(againB, threadB, 'bob', await againB.token('bob'));
    await cb.until(allConfirmed(cb, ids), 'all of alice’s burst on B', 60_000);
    const reply = cb.send('after the restarts').id;
    await ca2.until(allConfirmed(ca2, [reply]), 'bob’s reply on A', 60_000);

    const [la, lb] = [await listed(againA, threadA, alice), await listed(againB, threadB, bob)];
    gapFree(la);
    gapFree(lb);
    expect(la.map((m) => m.id).sort()).toEqual([...ids, reply].sort());
    expect(lb.map((m) => m.id).sort()).toEqual([...ids, reply].sort());
  });
});
