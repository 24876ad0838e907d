/**
 * SKEIN_SQLITE_SYNC=FULL on SQLite: the commit's fdatasync runs off the event loop, and
 * nothing of a message leaves the relay before it is on disk. A test hook
 * (SKEIN_TEST_SYNC_GATE) holds every fdatasync while a file exists; with one held, the
 * author gets no seq, the other member no message (neither forwarded nor in the answer to
 * his sync step 1), a history read no row and a newly connecting client no copy — until the
 * gate opens.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as syncProtocol from 'y-protocols/sync';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { aliceAndBob } from '../helpers/scenarios.ts';
import { type TestClient, connectClient } from '../helpers/y-client.ts';

/** Resolves once `path` exists (the relay flags a held fdatasync with a file; no event to await across processes). */
async function fileAppears(path: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.skipIf(process.env.SKEIN_TEST_STORE === 'postgres')('durable acknowledgement (SQLite FULL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-gate-'));
  const gate = join(dir, 'gate');
  let relay: RelayProcess;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    relay = await startRelay({ SKEIN_SQLITE_SYNC: 'FULL', SKEIN_TEST_SYNC_GATE: gate });
  });
  afterAll(async () => {
    rmSync(gate, { force: true });
    clients.forEach((c) => c.destroy());
    await relay?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('acknowledges, forwards and serves a message only after its fdatasync completed', async () => {
    const { id, bob, a, b } = await aliceAndBob(relay);
    clients.push(a, b);

    // The path works with the gate open.
    const first = a.send('before the gate');
    await b.until(() => b.roots.canon.has(first.id), 'bob has the first message with its seq');

    writeFileSync(gate, '');
    const held = a.send('behind the gate');
    // The commit is done and its fdatasync is waiting at the gate.
    await fileAppears(`${gate}.held`);
    let history: { status: number; body: { messages: Array<{ id: string; seq: number }> } } | null = null;
    const historyRead = relay.api(`GET`, `/v1/threads/${id}/messages?afterSeq=0`, bob).then((r) => (history = r));
    const late = connectClient(relay.wsUrl, id, bob, 'bob');
    clients.push(late);
    // bob, connected, asks for what he is missing (sync step 1): the answer waits too.
    const step1 = encoding.createEncoder();
    encoding.writeVarUint(step1, 0);
    syncProtocol.writeSyncStep1(step1, b.doc);
    b.provider.ws!.send(encoding.toUint8Array(step1));
    // Nothing is expected to arrive, so there is no event to await: a relay that let the
    // message out before its sync would have sent it within milliseconds of the commit.
    await new Promise((r) => setTimeout(r, 500));
    expect(a.roots.canon.has(held.id)).toBe(false);
    expect(b.roots.messages.toArray().some((m) => m.id === held.id)).toBe(false);
    expect(late.roots.messages.toArray().some((m) => m.id === held.id)).toBe(false);
    expect(history).toBeNull();
    expect(existsSync(`${gate}.held`)).toBe(true);

    rmSync(gate);
    await a.until(() => a.roots.canon.get(held.id)?.seq === 2, 'alice gets seq 2 once the sync is done');
    await b.until(() => b.roots.canon.get(held.id)?.seq === 2, 'bob gets the message once the sync is done');
    await late.until(() => late.roots.messages.toArray().some((m) => m.id === held.id), 'the late client gets it too');
    await historyRead;
    expect(history!.status).toBe(200);
    expect(history!.body.messages.map((m) => [m.id, m.seq])).toEqual([
      [first.id, 1],
      [held.id, 2],
    ]);
  });
});
