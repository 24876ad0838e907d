/**
 * The relay as `npm start` runs it: the bundle in `dist/relay/` (tools/build-relay.ts), not the
 * TypeScript sources the other tests start. It sequences a stock client's messages, cuts a
 * large offline backlog in its worker thread (`dist/relay/backlog-worker.js`), and with the
 * default AT setting (`local`) loads its lazy chunks and mirrors a message to its own PDS.
 */
import { AtpAgent } from '@atproto/api';
import { beforeAll, expect, it, onTestFinished } from 'vitest';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';
import type { CanonInfo } from '../../shared/schema.ts';
import { buildRelayBundle } from '../../tools/build-relay.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const canonOf = (c: TestClient, id: string) => c.roots.canon.get(id) as CanonInfo | undefined;

beforeAll(async () => {
  await buildRelayBundle(ROOT);
});

it('sequences a stock client, and cuts a large offline backlog in its worker thread', async () => {
  // A backlog over 4 KiB goes to the worker; no rolls (stock clients do not follow one).
  const relay = await startRelay({ RELAY_COMPILED: '1', SKEIN_BACKLOG_PART_BYTES: '4096', SKEIN_GENERATION_MESSAGES: '0' });
  onTestFinished(() => relay.stop());
  const token = await relay.token('alice');
  const { id } = await relay.createThread(token, []);
  const a = connectClient(relay.wsUrl, id, token, 'alice');
  onTestFinished(() => a.destroy());
  await synced(a);
  const first = a.send('hello from the bundle');
  await a.until(() => canonOf(a, first.id)?.seq === 1, 'the first message sequenced');

  a.provider.disconnect();
  const offline = a.doc.transact(() => Array.from({ length: 300 }, (_, i) => a.send(`written offline ${i}`)));
  a.provider.connect();
  await a.until(() => offline.every((m) => canonOf(a, m.id)?.seq !== undefined), 'the backlog sequenced', 30_000);
  await relay.waitForLog((l) => l.event === 'backlog_worker_started');
  expect(relay.logs.filter((l) => l.event === 'backlog_worker_failed')).toEqual([]);
  const seqs = offline.map((m) => canonOf(a, m.id)!.seq).sort((x, y) => x - y);
  expect(seqs).toEqual(offline.map((_, i) => i + 2));
});

it('with `local` AT (the npm start default) loads its lazy chunks and mirrors to its own PDS', async () => {
  const relay = await startRelay({ RELAY_COMPILED: '1', SKEIN_ATPROTO_SERVICE: 'local' });
  onTestFinished(() => relay.stop());
  await relay.waitForLog((l) => l.event === 'bridge_logged_in', 60_000);
  const caps = (await relay.api('GET', '/v1/capabilities')).body;
  const token = await relay.token('alice');
  const { id } = await relay.createThread(token, [], 'bundle', { mirror: true });
  const a = connectClient(relay.wsUrl, id, token, 'alice');
  onTestFinished(() => a.destroy());
  await synced(a);
  const m = a.send('mirrored by the bundle');
  await a.until(() => canonOf(a, m.id)?.state === 'confirmed', 'confirmed on the local PDS', 30_000);
  const got = await new AtpAgent({ service: caps.atproto.service }).com.atproto.repo.getRecord({ repo: caps.atproto.did, collection: MESSAGE_NSID, rkey: m.id });
  expect((got.data.value as { text: string }).text).toBe('mirrored by the bundle');
}, 120_000);
