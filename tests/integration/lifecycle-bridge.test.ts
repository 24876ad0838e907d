/**
 * The AT side of a deletion (docs/design/message-lifecycle.md) against a real reference PDS
 * (@atproto/dev-env) and a real relay process: deleting a mirrored message deletes its
 * record (getRecord 404), and the relay's row forgets the record; erasure on request does
 * the same for every message of a user and reports the records it deleted.
 */
import { AtpAgent } from '@atproto/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';
import { editKey } from '../../shared/message-lifecycle.ts';
import type { CanonInfo } from '../../shared/schema.ts';
import { eventually } from '../helpers/eventually.ts';
import { AtNetwork, type TestAccount } from '../helpers/at-network.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

let net: AtNetwork;
const relays: RelayProcess[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  net = await AtNetwork.start();
}, 120_000);
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await Promise.all(relays.map((r) => r.stop()));
  await net?.close();
});

const canonOf = (c: TestClient, id: string) => c.roots.canon.get(id) as CanonInfo | undefined;

/** A relay process mirroring into `account`'s repo, once its bridge has logged in. */
async function bridgeRelay(account: TestAccount, env: Record<string, string> = {}): Promise<RelayProcess> {
  const relay = await startRelay({
    SKEIN_ATPROTO_SERVICE: net.url,
    SKEIN_ATPROTO_IDENTIFIER: account.handle,
    SKEIN_ATPROTO_PASSWORD: account.password,
    SKEIN_BRIDGE_BACKOFF_BASE_MS: '100',
    SKEIN_BRIDGE_BACKOFF_MAX_MS: '1000',
    ...env,
  });
  relays.push(relay);
  await relay.waitForLog((l) => l.event === 'bridge_logged_in', 30_000);
  return relay;
}

describe('AT bridge: deleted messages', () => {
  it('an edit rewrites the AT record under the same key; a deletion deletes it (getRecord 404)', async () => {
    const account = await net.createAccount('relaydel');
    const relay = await bridgeRelay(account);
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'deletions', { mirror: true });
    const a = connectClient(relay.wsUrl, threadId, alice, 'alice');
    clients.push(a);
    await synced(a);
    const secret = `AT-SECRET-${Date.now()}`;
    const gone = a.send(secret);
    const kept = a.send('kept on AT');
    await a.until(() => canonOf(a, gone.id)?.state === 'confirmed' && canonOf(a, kept.id)?.state === 'confirmed', 'both mirrored', 30_000);
    const agent = new AtpAgent({ service: net.url });
    const get = (rkey: string) => agent.com.atproto.repo.getRecord({ repo: account.did, collection: MESSAGE_NSID, rkey });
    expect(((await get(gone.id)).data.value as { text: string }).text).toBe(secret); // the test can fail

    // Edit: the same record (same key, same seq) gets the new text and editedAt.
    const before = await get(kept.id);
    a.roots.edits.set(editKey(kept.id, `e${Date.now()}`), { text: 'kept on AT, edited', editedAt: Date.now() });
    const after = await eventually(() => get(kept.id), (r) => (r.data.value as { text: string }).text === 'kept on AT, edited', 'the record rewritten');
    expect(after.data.uri).toBe(before.data.uri);
    expect(after.data.value).toMatchObject({ seq: (before.data.value as { seq: number }).seq, editedAt: expect.any(String) });
    const page = await relay.api('GET', `/v1/threads/${threadId}/messages?afterSeq=0&limit=10`, alice);
    expect(page.body.messages.find((m: any) => m.id === kept.id)).toMatchObject({ text: 'kept on AT, edited', editedAt: expect.any(Number) });

    a.roots.redactions.set(gone.id, { by: 'alice', at: Date.now() });
    await eventually(
      () => get(gone.id).then(() => 'present', (e: { status?: number }) => String(e.status)),
      (s) => s !== 'present',
      'the record deleted',
    ).then((s) => expect(s).toMatch(/^(400|404)$/));
    await expect(get(gone.id)).rejects.toMatchObject({ error: 'RecordNotFound' });
    expect((await get(kept.id)).data.uri).toBe(canonOf(a, kept.id)!.atUri);
    const records = await net.listRecords(account.did);
    expect(records.map((r) => r.rkey)).toEqual([kept.id]);
    expect(JSON.stringify(records)).not.toContain(secret);
    await relay.waitForLog((l) => l.event === 'bridge_records_deleted', 10_000);
  });

  it('erasure on request deletes the user’s records through the same redaction, and the report counts them', async () => {
    const admin = 'erasure-admin-token-0123456789abcdef';
    const account = await net.createAccount('relayerase');
    const relay = await bridgeRelay(account, { SKEIN_ADMIN_TOKEN: admin });
    const [alice, bob] = [await relay.token('alice'), await relay.token('bob')];
    const { id: threadId } = await relay.createThread(alice, ['bob'], 'erasure', { mirror: true });
    const a = connectClient(relay.wsUrl, threadId, alice, 'alice');
    const b = connectClient(relay.wsUrl, threadId, bob, 'bob');
    clients.push(a, b);
    await Promise.all([synced(a), synced(b)]);
    const secret = `ERASE-SECRET-${Date.now()}`;
    const erased = [b.send(`${secret} one`), b.send(`${secret} two`)];
    const kept = a.send('alice stays on AT');
    await a.until(() => [...erased, kept].every((m) => canonOf(a, m.id)?.state === 'confirmed'), 'all mirrored', 30_000);
    const agent = new AtpAgent({ service: net.url });
    const get = (rkey: string) => agent.com.atproto.repo.getRecord({ repo: account.did, collection: MESSAGE_NSID, rkey });
    expect(((await get(erased[0]!.id)).data.value as { text: string }).text).toContain(secret); // the test can fail

    const r = await relay.api('POST', '/v1/admin/erasure', admin, { userId: 'bob' });
    expect(r.status).toBe(200);
    expect(r.body.totals).toEqual({ threads: 1, messages: 2, atRecordsDeleted: 2 });
    expect(r.body.atRecordsPending).toEqual([]);
    for (const m of erased) await expect(get(m.id)).rejects.toMatchObject({ error: 'RecordNotFound' });
    const records = await net.listRecords(account.did);
    expect(records.map((x) => x.rkey)).toEqual([kept.id]);
    expect(JSON.stringify(records)).not.toContain(secret);
    // Erased as deleted: the records gone from alice's document, the markers there, seqs kept.
    await a.until(() => erased.every((m) => a.roots.redactions.has(m.id) && !a.roots.messages.toArray().some((x) => x.id === m.id)), 'alice sees them deleted');
    expect(erased.map((m) => typeof canonOf(a, m.id)?.seq)).toEqual(['number', 'number']);
    // Nothing left to erase, and no record the bridge still has to delete.
    expect((await relay.api('POST', '/v1/admin/erasure', admin, { userId: 'bob' })).body.totals).toEqual({ threads: 0, messages: 0, atRecordsDeleted: 0 });
  });
});
