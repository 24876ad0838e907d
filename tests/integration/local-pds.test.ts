/**
 * `SKEIN_ATPROTO_SERVICE=local` (what `npm start` runs) keeps its embedded PDS across
 * restarts of the same data directory: same DID and URL, records mirrored before a restart
 * still resolve after it (also after a SIGKILL), and new messages mirror (issue 9.9).
 */
import { AtpAgent } from '@atproto/api';
import { afterAll, describe, expect, it } from 'vitest';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';
import type { CanonInfo } from '../../shared/schema.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';

const relays: RelayProcess[] = [];
const clients: TestClient[] = [];
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await Promise.all(relays.map((r) => r.stop()));
});

async function mirrorOne(relay: RelayProcess, threadId: string, text: string): Promise<{ id: string; atUri: string }> {
  const token = await relay.token('alice');
  const c = connectClient(relay.wsUrl, threadId, token, 'alice');
  clients.push(c);
  await synced(c);
  const m = c.send(text);
  const canon = () => c.roots.canon.get(m.id) as CanonInfo | undefined;
  await c.until(() => canon()?.state === 'confirmed', `${text} mirrored`, 60_000);
  c.destroy();
  return { id: m.id, atUri: canon()!.atUri! };
}

async function recordText(service: string, did: string, rkey: string): Promise<string> {
  const got = await new AtpAgent({ service }).com.atproto.repo.getRecord({ repo: did, collection: MESSAGE_NSID, rkey });
  return (got.data.value as { text: string }).text;
}

// Each test starts and restarts relays that each boot an AT service (30-45 s on a loaded
// 2-core machine, measured): the suite-wide 60 s is too tight for them, not for what they wait on.
describe('embedded local PDS', { timeout: 180_000 }, () => {
  it('keeps its DID, URL and records across a clean restart and a SIGKILL', async () => {
    const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local' });
    relays.push(relay);
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
    const caps1 = (await relay.api('GET', '/v1/capabilities')).body.atproto;
    // The PDS URL has a key of its own: pino's base field `service` is the relay's name, and a
    // second `service` in the same JSON line is read differently by different log tools.
    for (const event of ['local_pds_started', 'bridge_logged_in']) {
      const raw = relay.rawLog.find((l) => l.includes(`"event":"${event}"`))!;
      expect(raw.match(/"service":/g), raw).toHaveLength(1);
      expect(JSON.parse(raw).pdsUrl, raw).toBe(caps1.service);
    }
    const lease = await relay.waitForLog((l) => l.event === 'ingest_lease_acquired', 60_000);
    expect(lease.msg).toMatch(/firehose/);
    const alice = await relay.token('alice');
    const { id: threadId } = await relay.createThread(alice, [], 'kept', { mirror: true });
    const before = await mirrorOne(relay, threadId, 'before the restart');
    expect(before.atUri).toBe(`at://${caps1.did}/${MESSAGE_NSID}/${before.id}`);

    for (const how of ['SIGTERM', 'SIGKILL'] as const) {
      const from = relay.logs.length;
      await relay.stop(how);
      await relay.start();
      await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000, from);
      const caps = (await relay.api('GET', '/v1/capabilities')).body.atproto;
      expect({ did: caps.did, service: caps.service }).toEqual({ did: caps1.did, service: caps1.service });
      // The record mirrored before the restart still resolves on the same PDS.
      expect(await recordText(caps.service, caps.did, before.id)).toBe('before the restart');
      const after = await mirrorOne(relay, threadId, `after a ${how} restart`);
      expect(await recordText(caps.service, caps.did, after.id)).toBe(`after a ${how} restart`);
    }
    expect(relay.rawLog.join('\n')).not.toMatch(/"password"/);
  });

  it('two `npm start` relays (the second registered in the first one\'s PLC) share a thread, both ways', async () => {
    const ADMIN = 'two-local-relays-admin-token-0123456789';
    const started = async (env: Record<string, string>) => {
      const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local', SKEIN_ADMIN_TOKEN: ADMIN, ...env });
      relays.push(relay);
      const pds = await relay.waitForLog((l) => l.event === 'local_pds_started', 60_000);
      await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
      return { relay, pds: pds.pdsUrl as string, plc: pds.plcUrl as string, did: pds.did as string };
    };
    const a = await started({});
    const b = await started({ SKEIN_PLC_URL: a.plc });
    expect(b.plc).toBe(a.plc);
    // Each relay follows the other's PDS.
    for (const [self, other] of [[a, b], [b, a]] as const) {
      const from = self.relay.logs.length;
      const res = await self.relay.api('POST', '/v1/admin/federation/sources', ADMIN, {
        kind: 'PDS', name: 'the other relay', serviceEndpoint: other.pds, isEnabled: true, allowIngest: true, rateLimitPerMinute: 6000,
      });
      expect(res.status).toBe(201);
      await self.relay.waitForLog((l) => l.event === 'ingest_source_connected', 60_000, from);
    }
    const alice = await a.relay.token('alice');
    const bob = await b.relay.token('bob');
    const origin = (await a.relay.api('POST', '/v1/threads', alice, { title: 'two starts', mirror: true })).body;
    expect((await a.relay.api('POST', `/v1/threads/${origin.id}/remotes`, alice, { did: b.did })).status).toBe(200);
    const joined = await b.relay.api('POST', '/v1/threads', bob, { title: 'joined', follow: origin.atUri });
    expect(joined.status).toBe(201);

    const ca = connectClient(a.relay.wsUrl, origin.id, alice, 'alice');
    const cb = connectClient(b.relay.wsUrl, joined.body.id, bob, 'bob');
    clients.push(ca, cb);
    await Promise.all([synced(ca), synced(cb)]);
    const confirmed = (c: TestClient, id: string) => () => (c.roots.canon.get(id) as CanonInfo | undefined)?.state === 'confirmed';
    const hi = ca.send('hi from the first npm start').id;
    await cb.until(confirmed(cb, hi), 'A → B', 60_000);
    const back = cb.send('hello from the second').id;
    await ca.until(confirmed(ca, back), 'B → A', 60_000);
    expect([...ca.roots.canon.keys()].sort()).toEqual([hi, back].sort());
    expect([...cb.roots.canon.keys()].sort()).toEqual([hi, back].sort());
  });
});
