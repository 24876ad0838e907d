/**
 * The relay as a library (issue 16.2): createRelay mounted under `/chat` in a user's own
 * Hono app, with the app's own sessions (authenticate), a membership rule (isMember) and
 * an event observer (onEvent). Core scenarios as against the standalone relay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../shared/errors.ts';
import { EmbeddedRelay } from '../helpers/embedded-relay.ts';
import { offlineOnBothSides } from '../helpers/scenarios.ts';
import { type TestClient, canonicalOrder, connectClient, synced } from '../helpers/y-client.ts';

// An auditor may open any thread: membership is the embedding app's decision.
const relay = new EmbeddedRelay('/chat', {
  isMember: ({ thread, userId }) => userId === 'auditor' || thread.participants.includes(userId),
});
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];
function client(threadId: string, user: string, token = tokens[user]!) {
  const c = connectClient(relay.wsUrl, threadId, token, user);
  clients.push(c);
  return c;
}


beforeAll(async () => {
  await relay.start();
  for (const u of ['alice', 'bob', 'mallory', 'auditor']) tokens[u] = await relay.token(u);
});
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await relay.stop();
});

describe('embedded relay under /chat', () => {
  it("serves the user's own routes and the relay API side by side", async () => {
    expect(await (await fetch(`http://127.0.0.1:${relay.port}/`)).text()).toBe('my app');
    expect((await relay.api('GET', '/v1/health')).body).toEqual({ ok: true });
    expect((await relay.api('GET', '/v1/ready')).status).toBe(200);
    expect((await relay.api('GET', '/v1/threads')).status).toBe(401);
    expect((await relay.api('GET', '/v1/threads', tokens.alice)).status).toBe(200);
    // Dev sign-in is off unless asked for.
    expect((await fetch(`${relay.url}/v1/dev/token`, { method: 'POST', body: '{"userId":"x"}' })).status).toBe(404);
  });

  it('stock y-websocket clients converge with gap-free seqs, offline work included', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    const { a, ids } = await offlineOnBothSides(id, (t, u) => client(t, u));
    // onEvent saw each message sequenced once, with the seq the clients have.
    const seen = relay.events.filter((e) => e.type === 'message.sequenced' && e.threadId === id);
    expect(seen.map((e) => e.message.id).sort()).toEqual([...ids].sort());
    const seqOf = new Map(canonicalOrder(a).map((o) => [o.id, o.seq]));
    for (const e of seen) expect(e.message.seq).toBe(seqOf.get(e.message.id));
  });

  it('refuses a non-member and a bad token; isMember lets the auditor in', async () => {
    const { id } = await relay.createThread(tokens.alice!, ['bob']);
    expect((await client(id, 'mallory').nextClose()).code).toBe(CloseCode.NOT_A_MEMBER);
    expect((await client(id, 'alice', 'not-a-session').nextClose()).code).toBe(CloseCode.UNAUTHENTICATED);
    expect((await relay.api('GET', `/v1/threads/${id}`, tokens.mallory)).status).toBe(403);
    const auditor = client(id, 'auditor');
    await synced(auditor);
    expect(auditor.roots.meta.get('participants')).toEqual(['alice', 'bob']);
    expect((await relay.api('GET', `/v1/threads/${id}`, tokens.auditor)).status).toBe(200);
  });
});
