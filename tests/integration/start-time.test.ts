/**
 * Issue 31: with the embedded PDS (`SKEIN_ATPROTO_SERVICE=local`, what `npm start` runs) the
 * relay listens and serves before the PDS is up; the PDS and the bridge come up in the
 * background, capabilities say so meanwhile, and mirrored threads created meanwhile mirror
 * once the bridge is up. A PDS that fails to start leaves the relay serving with the bridge off.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CanonInfo } from '../../shared/schema.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced, type TestClient } from '../helpers/y-client.ts';

const relays: RelayProcess[] = [];
const clients: TestClient[] = [];
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await Promise.all(relays.map((r) => r.stop()));
});

const seen = (relay: RelayProcess, event: string) => relay.logs.findIndex((l) => l.event === event);

/** Polls capabilities until `pred` holds (or fails after `timeoutMs`). */
async function capsUntil(relay: RelayProcess, pred: (at: any) => boolean, what: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    last = (await relay.api('GET', '/v1/capabilities')).body.atproto;
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`capabilities never showed ${what}; last: ${JSON.stringify(last)}`);
}

// A relay booting an embedded PDS takes 30-45 s on a loaded 2-core machine (local-pds.test.ts).
describe('start with the embedded PDS', { timeout: 180_000 }, () => {
  it('serves before the PDS is up, and mirrors what was said meanwhile once it is', async () => {
    const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local' });
    relays.push(relay);
    // startRelay returned on the `listening` line: the relay serves now.
    const health = await relay.api('GET', '/v1/health');
    expect(health.status).toBe(200);
    const pdsUpAtHealth = seen(relay, 'local_pds_started') >= 0;
    const starting = (await relay.api('GET', '/v1/capabilities')).body.atproto;
    const alice = await relay.token('alice');
    // A mirrored thread with a message, and one without (its record is written at login too).
    const { id: threadId } = await relay.createThread(alice, [], 'said early', { mirror: true });
    const { id: quietId } = await relay.createThread(alice, [], 'quiet', { mirror: true });
    const c = connectClient(relay.wsUrl, threadId, alice, 'alice');
    clients.push(c);
    await synced(c);
    const m = c.send('sent while the PDS starts');
    const canon = () => c.roots.canon.get(m.id) as CanonInfo | undefined;
    await c.until(() => !!canon(), 'message sequenced');
    const stateEarly = canon()!.state;
    const bridgeUpEarly = seen(relay, 'bridge_logged_in') >= 0;

    // Everything above happened while the PDS was still starting (it takes seconds, this
    // test's requests milliseconds); asserted, not assumed.
    expect(pdsUpAtHealth).toBe(false);
    expect(bridgeUpEarly).toBe(false);
    expect(starting).toMatchObject({ features: { write_bridge: false }, starting: true, degraded: true, reason: 'pds_starting' });
    expect(stateEarly).toBe('sent'); // sequenced, its AT record queued in the outbox

    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 120_000);
    expect(seen(relay, 'listening')).toBeLessThan(seen(relay, 'local_pds_started'));
    expect(seen(relay, 'local_pds_started')).toBeLessThan(seen(relay, 'bridge_started'));
    const ready = await capsUntil(relay, (at) => at.features.write_bridge && !at.starting && !at.degraded, 'the bridge ready');
    expect(ready.did).toMatch(/^did:plc:/);

    await c.until(() => canon()?.state === 'confirmed', 'the early message mirrored', 60_000);
    expect(canon()!.atUri).toBe(`at://${ready.did}/dev.skein.chat.message/${m.id}`);
    for (const id of [threadId, quietId]) {
      await relay.waitForLog((l) => l.event === 'bridge_thread_record_written' && l.threadId === id, 60_000);
      const t = await relay.api('GET', `/v1/threads/${id}`, alice);
      expect(t.body.atUri).toBe(`at://${ready.did}/dev.skein.chat.thread/${id}`);
    }
    expect(relay.rawLog.join('\n')).not.toMatch(/"password"/);
  });

  it('keeps serving with the bridge off when the PDS fails to start', async () => {
    // A PLC that refuses everything: the fresh PDS cannot register its account's DID.
    const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local', SKEIN_PLC_URL: 'http://127.0.0.1:9' });
    relays.push(relay);
    const failed = await relay.waitForLog((l) => l.event === 'local_pds_failed', 120_000);
    expect(failed.err).toBeTruthy();
    expect((await relay.api('GET', '/v1/health')).status).toBe(200);
    const at = await capsUntil(relay, (a) => !a.starting, 'the start settled');
    expect(at).toMatchObject({ features: { write_bridge: false }, degraded: true, reason: 'pds_failed' });
    const alice = await relay.token('alice');
    const plain = await relay.api('POST', '/v1/threads', alice, { title: 'plain', participants: [] });
    expect(plain.status).toBe(201);
    const mirrored = await relay.api('POST', '/v1/threads', alice, { title: 'm', participants: [], mirror: true });
    expect(mirrored.status).toBe(400);
    expect(relay.proc?.exitCode ?? null).toBe(null);
  });

  it('a SIGTERM while the PDS starts exits cleanly, and the next start brings the PDS up', async () => {
    const relay = await startRelay({ SKEIN_ATPROTO_SERVICE: 'local' });
    relays.push(relay);
    const proc = relay.proc!;
    const stopping = relay.stop('SIGTERM');
    expect(seen(relay, 'local_pds_started')).toBe(-1);
    await stopping;
    // Shutdown waits for the PDS start it cannot interrupt, then closes it: a clean exit.
    expect(proc.exitCode).toBe(0);
    const from = relay.logs.length;
    await relay.start();
    await relay.waitForLog((l) => l.event === 'bridge_logged_in', 120_000, from);
  });
});
