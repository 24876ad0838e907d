/**
 * Generation rolls are rate-limited per thread (issue 28, SKEIN_ROLL_MIN_INTERVAL_MS): each
 * roll closes every member's socket (4410), so a thread that fills its live document again
 * right after a roll waits for the interval; messages keep being sequenced in the live
 * document meanwhile and roll with it.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { connectClient, synced } from '../helpers/y-client.ts';

const PER_GENERATION = 10;
const INTERVAL_MS = 8000;

describe('roll rate', () => {
  it('a roll due sooner than the interval after the last waits; messages are sequenced meanwhile', async () => {
    const relay = await startRelay({ SKEIN_GENERATION_MESSAGES: String(PER_GENERATION), SKEIN_ROLL_MIN_INTERVAL_MS: String(INTERVAL_MS) });
    onTestFinished(() => relay.stop());
    const tokens = { alice: await relay.token('alice'), bob: await relay.token('bob') };
    expect((await relay.api('GET', '/v1/capabilities')).body.limits).toMatchObject({ rollMinIntervalMs: INTERVAL_MS });
    const { id } = await relay.createThread(tokens.alice, ['bob']);
    const open = (doc: string, user: 'alice' | 'bob') => {
      const c = connectClient(relay.wsUrl, doc, tokens[user], user);
      onTestFinished(() => c.destroy());
      return c;
    };
    const a0 = open(id, 'alice');
    await synced(a0);
    const sealed0 = a0.nextClose();
    a0.doc.transact(() => {
      for (let i = 0; i < PER_GENERATION; i++) a0.send(`g0 ${i}`);
    });
    expect((await sealed0).code).toBe(CloseCode.GENERATION_SEALED);

    const a1 = open(`${id}~1`, 'alice');
    const b1 = open(`${id}~1`, 'bob');
    await Promise.all([synced(a1), synced(b1)]);
    const sealed1 = a1.nextClose(60_000);
    a1.doc.transact(() => {
      for (let i = 0; i < PER_GENERATION; i++) a1.send(`g1 ${i}`);
    });
    // The live document is full, but the roll waits: bob's messages are sequenced in it.
    const more = [];
    for (let i = 0; i < 5; i++) {
      const m = b1.send(`bob ${i}`);
      more.push(m);
      await b1.until(() => b1.roots.canon.has(m.id), `bob's message ${i} sequenced`, 30_000);
    }
    expect((await sealed1).code).toBe(CloseCode.GENERATION_SEALED);
    const rolls = relay.logs.filter((l) => l.event === 'generation_rolled' && l.threadId === id).map((l) => l.time as number);
    expect(rolls).toHaveLength(2);
    expect(rolls[1]! - rolls[0]!).toBeGreaterThanOrEqual(INTERVAL_MS);
    expect(relay.logs.some((l) => l.event === 'roll_delayed' && l.threadId === id)).toBe(true);
    // Everything of generation 1 was sealed together: seqs gap-free, each message once.
    const t = (await relay.api('GET', `/v1/threads/${id}`, tokens.alice)).body;
    expect(t).toMatchObject({ generation: 2, baseSeq: 2 * PER_GENERATION + more.length, lastSeq: 2 * PER_GENERATION + more.length });
    const rows = (await relay.api('GET', `/v1/threads/${id}/messages?afterSeq=0&limit=100`, tokens.bob)).body.messages as Array<{ id: string; seq: number }>;
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(new Set(rows.map((r) => r.id)).size).toBe(2 * PER_GENERATION + more.length);
    expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining(more.map((m) => m.id)));
  });
});
