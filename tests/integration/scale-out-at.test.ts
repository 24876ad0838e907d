/**
 * Two relay instances on one PostgreSQL schema (and Redis) with AT on, against a dev-env PDS
 * (issue #13): both drain the mirror outbox and every message becomes exactly one record;
 * AT ingest runs on exactly one instance (the ingest lease), and when that instance is
 * SIGKILLed the other takes over and nothing is lost or doubled; an ingested edit and deletion
 * applied by the ingesting instance reach the other one's members.
 */
import { randomBytes } from 'node:crypto';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';
import { revisionsOf } from '../../shared/message-lifecycle.ts';
import type { CanonInfo } from '../../shared/schema.ts';
import { useAtNetwork } from '../helpers/at-fixture.ts';
import { eventually } from '../helpers/eventually.ts';
import { postgresSchemas } from '../helpers/postgres.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { UNLIMITED, scaleOutEnv, startInstances } from '../helpers/scale-out.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const fx = useAtNetwork();
const pg = postgresSchemas();
const ADMIN = randomBytes(16).toString('hex');
const relays: RelayProcess[] = [];

beforeAll(async () => {
  const account = await fx.net.createAccount('scaleout');
  const env = scaleOutEnv(pg.freshSchema(), {
    SKEIN_ATPROTO_SERVICE: fx.net.url,
    SKEIN_ATPROTO_IDENTIFIER: account.handle,
    SKEIN_ATPROTO_PASSWORD: account.password,
    SKEIN_ADMIN_TOKEN: ADMIN,
    SKEIN_PLC_URL: fx.net.plcUrl,
    SKEIN_INGEST_BACKOFF_BASE_MS: '100',
    SKEIN_INGEST_BACKOFF_MAX_MS: '500',
    ...UNLIMITED,
  });
  relays.push(...(await startInstances(env)));
}, 180_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
});

const canonOf = (doc: { roots: { canon: { get(id: string): unknown } } }, id: string) => doc.roots.canon.get(id) as CanonInfo | undefined;

/**
 * The instance holding the ingest lease (`leader`) and the other one (`follower`); a thread on
 * the follower with `remote` as a remote member, and a source added through the follower's
 * admin API, which the leader runs.
 */
async function ingestingThread(title: string, remoteName: string) {
  const leaderIndex = await eventually(
    async () => relays.findIndex((r) => r.logs.some((l) => l.event === 'ingest_lease_acquired')),
    (i) => i >= 0,
    'one instance holds the ingest lease',
  );
  const [leader, follower] = [relays[leaderIndex]!, relays[1 - leaderIndex]!];
  const remote = await fx.net.createAccount(remoteName);
  const alice = await follower.token('alice');
  const { id } = await follower.createThread(alice, [], title);
  expect((await follower.api('POST', `/v1/threads/${id}/remotes`, alice, { did: remote.did })).status).toBe(200);
  const from = leader.logs.length;
  const created = await follower.api('POST', '/v1/admin/federation/sources', ADMIN, {
    kind: 'PDS',
    name: `pds-${ulid()}`,
    serviceEndpoint: fx.net.url,
    isEnabled: true,
    allowIngest: true,
    rateLimitPerMinute: 6000,
  });
  expect(created.status).toBe(201);
  await leader.waitForLog((l) => l.event === 'ingest_source_connected', 30_000, from);
  return { leaderIndex, leader, follower, remote, alice, id };
}

describe('AT with two relay instances on PostgreSQL', () => {
  it('both drain the outbox: every message becomes exactly one record', async () => {
    const [one, two] = relays as [RelayProcess, RelayProcess];
    const alice = await one.token('alice');
    const bob = await two.token('bob');
    const { id } = await one.createThread(alice, ['bob'], 'mirrored on two instances', { mirror: true });
    const a = connectClient(one.wsUrl, id, alice, 'alice');
    const b = connectClient(two.wsUrl, id, bob, 'bob');
    try {
      await Promise.all([synced(a), synced(b)]);
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push((i % 2 ? b : a).send(`mirrored ${i}`).id);
      await a.until(() => ids.every((m) => canonOf(a, m)?.state === 'confirmed'), 'all 30 mirrored', 90_000);
      const account = (await one.api('GET', '/v1/capabilities')).body.atproto.did as string;
      const records = (await fx.net.listRecords(account)).filter((r) => r.value.thread === id);
      expect(records.map((r) => r.rkey).sort()).toEqual([...ids].sort());
      for (const m of ids) expect(canonOf(a, m)!.atUri).toBe(`at://${account}/${MESSAGE_NSID}/${m}`);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('an ingested edit and deletion applied by the ingesting instance reach a member on the other one; the deleted text is gone from every sync', async () => {
    const { follower: other, remote, alice, id } = await ingestingThread('edited on two instances', 'remoteeditor');
    const a = connectClient(other.wsUrl, id, alice, 'alice');
    try {
      await synced(a);
      const secret = `PG-SECRET-${ulid()}`;
      const value = (text: string) => ({ thread: id, author: 'carol', text, seq: 1, sentAt: '2026-12-06T07:00:00.000Z' });
      const [kept, gone] = [ulid(), ulid()];
      await fx.net.writeRecords(remote, [
        { rkey: kept, value: value('first version') },
        { rkey: gone, value: value(secret) },
      ]);
      await a.until(() => [kept, gone].every((m) => canonOf(a, m)?.state === 'confirmed'), 'both ingested', 60_000);
      await fx.net.updateRecords(remote, [{ rkey: kept, value: { ...value('second version'), editedAt: new Date().toISOString() } }]);
      await fx.net.deleteRecords(remote, [gone]);
      const textOf = (m: string) => revisionsOf(a.roots.edits.entries(), m).at(-1)?.text ?? a.roots.messages.toArray().find((x) => x.id === m)?.text;
      await a.until(() => textOf(kept) === 'second version' && a.roots.redactions.has(gone) && textOf(gone) === undefined, 'the edit and the deletion on the other instance', 60_000);
      for (const r of relays) {
        const fresh = connectClient(r.wsUrl, id, alice, 'alice');
        try {
          await synced(fresh);
          await fresh.until(() => fresh.roots.redactions.has(gone), 'the deletion synced', 30_000);
          const state = Buffer.from(Y.encodeStateAsUpdate(fresh.doc));
          expect(state.includes('second version')).toBe(true); // the test can fail
          expect(state.includes(secret)).toBe(false);
        } finally {
          fresh.destroy();
        }
        const list = (await r.api('GET', `/v1/threads/${id}/messages?limit=10`, alice)).body.messages as Array<{ id: string; seq: number; text: string }>;
        expect(list.map((m) => [m.id, m.seq, m.text])).toEqual([
          [kept, 1, 'second version'],
          [gone, 2, ''],
        ]);
      }
    } finally {
      a.destroy();
    }
  });

  it('ingest runs on exactly one instance; after it is SIGKILLed the other takes over, nothing lost or doubled', async () => {
    const { leaderIndex, leader, follower, remote, alice, id } = await ingestingThread('ingested on two instances', 'remotewriter');
    // The source was added through the follower's admin API: the leader runs it.
    expect(follower.logs.some((l) => l.event === 'ingest_source_connected' || l.event === 'ingest_lease_acquired')).toBe(false);

    const messages = async (r: RelayProcess) =>
      (await r.api('GET', `/v1/threads/${id}/messages?limit=1000`, alice)).body.messages as Array<{ id: string; seq: number }>;
    const first = { rkey: ulid(), value: { thread: id, author: 'carol', text: 'before the kill', seq: 1, sentAt: new Date().toISOString() } };
    await fx.net.writeRecords(remote, [first]);
    await eventually(() => messages(follower), (l) => l.length === 1, 'first record ingested');

    await leader.stop('SIGKILL');
    relays.splice(leaderIndex, 1);
    await follower.waitForLog((l) => l.event === 'ingest_lease_acquired', 30_000);
    await follower.waitForLog((l) => l.event === 'ingest_source_connected', 30_000);
    const second = { rkey: ulid(), value: { thread: id, author: 'carol', text: 'after the kill', seq: 2, sentAt: new Date().toISOString() } };
    await fx.net.writeRecords(remote, [second]);
    const list = await eventually(() => messages(follower), (l) => l.length >= 2, 'second record ingested by the other instance');
    // The cursor the killed instance saved may be behind: the replayed first record is not doubled.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await messages(follower)).map((m) => [m.id, m.seq])).toEqual([
      [first.rkey, 1],
      [second.rkey, 2],
    ]);
    expect(list.length).toBe(2);
  });
});
