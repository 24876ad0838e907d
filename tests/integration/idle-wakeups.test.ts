/**
 * An idle relay sleeps (issue 29): with many loaded threads and connected, quiet clients, its
 * main thread wakes a few dozen times a second at most — for pings, awareness renewals and
 * the event-loop delay metric — not once per loaded room per second, nor every 10 ms.
 * On this VM each wake-up costs CPU and cache warmth that a relay at low message rates pays
 * per message; an idle one pays it for nothing.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const THREADS = 40;
let relay: RelayProcess;
const clients: TestClient[] = [];

beforeAll(async () => {
  relay = await startRelay();
}, 60_000);
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await relay?.stop();
});

/** Times the relay's main thread went to sleep (voluntary context switches) so far. */
function mainThreadSleeps(pid: number): number {
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))![1]);
}

it('an idle relay with 40 loaded threads wakes its main thread fewer than 60 times a second', async () => {
  // Two owners: one user may create only a burst of 30 threads at once.
  for (const user of ['alice', 'bob']) {
    const token = await relay.token(user);
    for (let i = 0; i < THREADS / 2; i++) {
      const { id } = await relay.createThread(token, [], `idle ${i}`);
      clients.push(connectClient(relay.wsUrl, id, token, user));
    }
  }
  await Promise.all(clients.map((c) => synced(c)));
  // Let the connections' first exchanges (awareness, sync) settle.
  await new Promise((r) => setTimeout(r, 1500));
  const pid = relay.proc!.pid!;
  const before = mainThreadSleeps(pid);
  const seconds = 5;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const perSecond = (mainThreadSleeps(pid) - before) / seconds;
  // Before issue 29's cut: ~100/s from the delay metric's 10 ms timer plus one per loaded
  // room per second from the stream sweeps (~140 here); now ~20/s plus the clients' traffic.
  expect(perSecond).toBeLessThan(60);
}, 60_000);
