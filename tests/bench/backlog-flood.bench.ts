/**
 * The issue-28 backlog probe against a relay process with default settings: one member
 * reconnects 10 times with 300 new messages as its first sync step 2, then once with 20,000,
 * while another member sends a message each round. Prints messages stored of the flood, the
 * time taken, the relay's worst event-loop delay meanwhile (its own measurement, from
 * /metrics), the worst HTTP health-check latency (seen from this process, which also runs
 * the clients: their own work counts in it) and the size of a new member's full sync.
 *
 *   npm run bench -- backlog-flood
 */
import { performance } from 'node:perf_hooks';
import * as Y from 'yjs';
import { startRelay } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

export async function run(): Promise<void> {
  const relay = await startRelay({ SKEIN_LOG_LEVEL: 'info', // No rolls: stock clients do not follow a roll (the SDK does); one live document holds all.
    SKEIN_GENERATION_MESSAGES: '0' });
  const clients: TestClient[] = [];
  let probing = true;
  let worstMs = 0;
  let worstLagS = 0;
  // prom-client resets the relay's event-loop delay histogram at each scrape: the max of the scrapes is the max.
  const lagMax = async () => {
    const text = await fetch(`${relay.url}/metrics`).then((r) => r.text(), () => '');
    return Number(/^skein_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? 0);
  };
  await lagMax(); // forget the start-up's delays
  const probe = (async () => {
    while (probing) {
      const t = performance.now();
      // A reused keep-alive socket the relay closed meanwhile fails: not a measurement.
      const ok = await fetch(`${relay.url}/v1/health`).then((r) => r.text(), () => null);
      if (ok !== null) worstMs = Math.max(worstMs, performance.now() - t);
      worstLagS = Math.max(worstLagS, await lagMax());
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    const tokens = { alice: await relay.token('alice'), mallory: await relay.token('mallory'), carol: await relay.token('carol') };
    const { id } = await relay.createThread(tokens.alice, ['mallory', 'carol']);
    const open = (user: keyof typeof tokens) => {
      const c = connectClient(relay.wsUrl, id, tokens[user], user);
      clients.push(c);
      return c;
    };
    const mallory = open('mallory');
    const alice = open('alice');
    await Promise.all([synced(mallory), synced(alice)]);
    const started = performance.now();
    let sent = 0;
    for (let round = 0; round <= 10; round++) {
      mallory.provider.disconnect();
      const n = round < 10 ? 300 : 20_000;
      const batch: Array<{ id: string }> = [];
      mallory.doc.transact(() => {
        for (let i = 0; i < n; i++) batch.push(mallory.send(`flood ${round}.${i}`));
      });
      sent += n;
      // A round ends when the relay took the whole backlog, or cut it (4529).
      const taken = Promise.race([mallory.nextClose(120_000), mallory.until(() => batch.every((m) => mallory.roots.canon.has(m.id)), 'taken', 120_000)]);
      mallory.provider.connect();
      await taken.catch(() => null);
      const m = alice.send(`live ${round}`);
      await alice.until(() => alice.roots.canon.has(m.id), 'alice sequenced', 120_000);
    }
    const elapsedS = (performance.now() - started) / 1000;
    mallory.provider.disconnect();
    const lastSeq = (await relay.api('GET', `/v1/threads/${id}`, tokens.alice)).body.lastSeq as number;
    const carol = open('carol');
    await synced(carol);
    console.log(`flood: ${sent} messages sent in 11 reconnects over ${elapsedS.toFixed(1)} s`);
    console.log(`stored: ${lastSeq - 11} of the flood (+ 11 of alice's, all sequenced)`);
    worstLagS = Math.max(worstLagS, await lagMax());
    console.log(`worst relay event-loop delay meanwhile: ${(worstLagS * 1000).toFixed(0)} ms (its /metrics)`);
    console.log(`worst /v1/health latency meanwhile: ${worstMs.toFixed(0)} ms`);
    console.log(`new member's full sync: ${Y.encodeStateAsUpdate(carol.doc).byteLength} bytes`);
  } finally {
    probing = false;
    await probe;
    for (const c of clients) c.destroy();
    await relay.stop();
  }
}
