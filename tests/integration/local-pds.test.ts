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

describe('embedded local PDS', () => {
  it('keeps its DID, URL and records across a clean restart and a SIGKILL', async () => {
    const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local' });
    relays.push(relay);
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
    const caps1 = (await relay.api('GET', '/v1/capabilities')).body.atproto;
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
});
