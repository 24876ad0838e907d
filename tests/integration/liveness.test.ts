/**
 * Liveness against a real relay: a peer that stops answering pings is dropped, and a
 * peer that stops reading is dropped before its outgoing queue can grow relay memory.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { rawPeer } from '../helpers/raw-peer.ts';
import { relayFixture } from '../helpers/relay-fixture.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const MAX_BUFFERED = 1_048_576;

const { relay, tokens, clients } = relayFixture({
    SKEIN_PING_INTERVAL_MS: '4000',
    SKEIN_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
    SKEIN_MAX_AWARENESS_BYTES: '131072',
    SKEIN_MAX_AWARENESS_PER_SECOND: '100000',
    // The flood below is presence: metered per user and thread since issue 28, it must pass.
    SKEIN_AWARENESS_BYTES_PER_SECOND: String(1024 * 1024 * 1024),
  }, ['alice', 'bob']);

/** Resident memory of the relay process, bytes. */
function relayRss(): number {
  const status = readFileSync(`/proc/${relay.proc!.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

it('a peer that does not answer pings is dropped with 4508', async () => {
  const { id } = await relay.createThread(tokens.alice!, ['bob']);
  const ghost = rawPeer(relay.wsUrl, id, tokens.bob!, { autoPong: false });
  await ghost.synced;
  const honest = connectClient(relay.wsUrl, id, tokens.alice!, 'alice');
  clients.push(honest);
  await synced(honest);
  const from = relay.logs.length;
  const closed = await ghost.closed;
  // Terminated right after the close frame: the peer sees 4508 or, if the frame is lost, 1006.
  expect([CloseCode.UNRESPONSIVE, 1006]).toContain(closed.code);
  const log = await relay.waitForLog((l) => l.event === 'ws_close' && l.userId === 'bob' && l.threadId === id, 10_000, 0);
  expect(log).toMatchObject({ code: CloseCode.UNRESPONSIVE, reason: 'ping timeout' });
  // The honest client answered every ping meanwhile and is still connected.
  expect(relay.logs.slice(from).some((l) => l.event === 'ws_close' && l.userId === 'alice')).toBe(false);
  expect(honest.closes).toEqual([]);
});

it('a peer that stops reading is dropped once its queue passes the limit; relay memory stays bounded', async () => {
  const { id } = await relay.createThread(tokens.alice!, ['bob']);
  const slow = rawPeer(relay.wsUrl, id, tokens.bob!);
  await slow.synced;
  slow.ws.pause(); // stops reading: the relay's sends pile up in its socket buffer
  const sender = connectClient(relay.wsUrl, id, tokens.alice!, 'alice');
  clients.push(sender);
  await synced(sender);
  const rssBefore = relayRss();
  const dropped = relay.waitForLog((l) => l.event === 'ws_close' && l.userId === 'bob' && l.threadId === id, 60_000, 0);
  // Presence updates of 64 kB each are broadcast to every peer but kept only once.
  const blob = 'p'.repeat(64 * 1024);
  const total = 64 * 1024 * 1024;
  let sentBytes = 0;
  // Keep sending well past the drop: without the guard all of it would queue for `slow`.
  for (let i = 0; sentBytes < total; i++) {
    sender.provider.awareness.setLocalState({ i, blob });
    sentBytes += blob.length;
    // Let the socket drain now and then instead of queueing everything locally.
    if (i % 4 === 0) await new Promise((r) => setImmediate(r));
  }
  const log = await dropped;
  expect(log).toMatchObject({ code: CloseCode.UNRESPONSIVE, reason: 'peer too slow' });
  // The queue for the slow peer never grew past the limit (plus the frame that crossed it).
  expect(log.bufferedBytes as number).toBeLessThanOrEqual(MAX_BUFFERED + 70 * 1024);
  // The relay handles a socket's frames in order: once this message is canonical, every
  // presence update before it has been broadcast.
  const marker = sender.send('marker');
  await sender.until(() => sender.roots.canon.has(marker.id), 'marker canonical', 60_000);
  const growth = relayRss() - rssBefore;
  console.log(`slow reader dropped after ${(sentBytes / 1048576).toFixed(1)} MB broadcast; relay RSS growth ${(growth / 1048576).toFixed(1)} MB, queue at drop ${log.bufferedBytes} bytes`);
  // RSS is printed, not asserted: it also holds garbage from parsing 64 MB of presence and
  // swung from 14 to 77 MB between runs on this machine. The bound that matters is the one
  // asserted above: the queue for the slow peer never passed the limit before it was dropped
  // (without the guard there is no drop at all and the wait for it fails).
  expect(sender.closes).toEqual([]);
});
