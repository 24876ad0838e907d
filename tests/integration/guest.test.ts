/**
 * Guest mode in Node (fake-indexeddb): threads that never leave the "browser" — not one
 * fetch, not one socket — and their upload to a real relay after sign-in, ids and order kept,
 * each message once, also when an upload is retried.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SkeinClient, createSkeinClient, uploadGuestThreads } from '../../client/index.ts';
import { type RelayProcess, startRelay } from '../helpers/relay-process.ts';

let relay: RelayProcess;
const clients: SkeinClient[] = [];
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await relay?.stop();
});

/** Counts every fetch and WebSocket the SDK attempts while `fn` runs. */
async function offline<T>(fn: (ws: typeof globalThis.WebSocket) => Promise<T>): Promise<{ result: T; requests: number }> {
  const realFetch = globalThis.fetch;
  let requests = 0;
  globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
    requests++;
    return realFetch(...args);
  }) as typeof fetch;
  const CountingWs = class extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      requests++;
      super(...args);
    }
  } as unknown as typeof globalThis.WebSocket;
  try {
    return { result: await fn(CountingWs), requests };
  } finally {
    globalThis.fetch = realFetch;
  }
}

describe('guest mode', () => {
  it('keeps threads in the browser only, with no network request, across a restart', async () => {
    const { result: ids, requests } = await offline(async (ws) => {
      const guest = await createSkeinClient({ guest: true, WebSocketPolyfill: ws });
      const t = await guest.createThread({ title: 'tried as a guest', participants: [] });
      const view = guest.openThread(t.id);
      await view.ready;
      const sent = [await view.send('first'), await view.send('second')];
      const s = view.startStream();
      s.append('a streamed ');
      s.append('note');
      sent.push(await s.finish());
      expect(view.messages.map((m) => [m.id, m.status])).toEqual(sent.map((id) => [id, 'pending']));
      await expect(guest.createThread({ participants: [], mirror: true })).rejects.toThrow(/guest/);
      await guest.close();

      const again = await createSkeinClient({ guest: true, WebSocketPolyfill: ws });
      clients.push(again);
      expect(again.guest).toBe(true);
      expect(again.threads().map((x) => x.title)).toEqual(['tried as a guest']);
      const reopened = again.openThread(t.id);
      await reopened.ready;
      expect(reopened.messages.map((m) => m.text)).toEqual(['first', 'second', 'a streamed note']);
      return { threadId: t.id, sent };
    });
    expect(requests).toBe(0);
    expect(ids.sent).toHaveLength(3);
  });

  it('uploads guest threads after sign-in: same ids and order, each message once, retry-safe', async () => {
    const guest = await createSkeinClient({ guest: true, userId: 'guest-upload' });
    clients.push(guest);
    const made: Array<{ id: string; texts: string[]; msgIds: string[] }> = [];
    for (const [title, texts] of [['one', ['a', 'b', 'c']], ['two', ['x', 'y']]] as const) {
      const t = await guest.createThread({ title, participants: [] });
      const v = guest.openThread(t.id);
      await v.ready;
      const msgIds: string[] = [];
      for (const text of texts) msgIds.push(await v.send(text));
      made.push({ id: t.id, texts: [...texts], msgIds });
    }
    const token = await relay.token('carol');
    const carol = await createSkeinClient({ relayUrl: relay.url, userId: 'carol', getToken: () => token, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket });
    clients.push(carol);
    // An earlier attempt created thread "two" on the relay and then stopped.
    await carol.createThread({ id: made[1]!.id, title: 'two', participants: [] });

    const uploaded = await uploadGuestThreads({ guest, to: carol });
    expect(uploaded.sort()).toEqual(made.map((m) => m.id).sort());
    expect(guest.threads()).toEqual([]);
    for (const m of made) {
      const v = carol.openThread(m.id);
      await new Promise<void>((resolve) => {
        const check = () => v.messages.length === m.texts.length && v.messages.every((x) => x.seq !== undefined) && (off?.(), resolve());
        const off: (() => void) | undefined = v.subscribe(check);
        check();
      });
      const listed = (await relay.api('GET', `/v1/threads/${m.id}/messages`, token)).body.messages as Array<{ id: string; seq: number; text: string; authorId: string }>;
      expect(listed.map((x) => [x.id, x.seq, x.text, x.authorId])).toEqual(m.msgIds.map((id, i) => [id, i + 1, m.texts[i], 'carol']));
      // A second import of the same messages adds nothing.
      expect(await v.importMessages(m.msgIds.map((id, i) => ({ id, text: m.texts[i]!, clientSentAt: 1 })))).toBe(0);
    }
    expect((await relay.api('POST', '/v1/threads', token, { id: made[0]!.id, title: 'dup' })).status).toBe(409);
    expect((await relay.api('POST', '/v1/threads', token, { id: 'bad id!' })).status).toBe(400);
  });
});
