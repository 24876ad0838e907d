/**
 * Helpers for SDK tests in Node (fake-indexeddb, ws): a WebSocket class that can be cut off
 * like an unreachable relay, and awaiting a view's state.
 */
import WebSocket from 'ws';
import type { ThreadView } from '../../client/index.ts';

/** A WebSocket class whose connections can be cut and refused (the clients using it are offline). */
export function gatedSocket() {
  const open = new Set<WebSocket>();
  const gate = { offline: false };
  class Gated extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      // Nothing listens on port 9 (discard): connecting fails like an unreachable relay.
      super(gate.offline ? 'ws://127.0.0.1:9/' : url, protocols);
      open.add(this);
      this.on('close', () => open.delete(this));
    }
  }
  return {
    WS: Gated as unknown as typeof globalThis.WebSocket,
    offline() {
      gate.offline = true;
      for (const s of open) s.terminate();
    },
    online() {
      gate.offline = false;
    },
  };
}

/** Resolves once `pred(x)` holds, checked now and on every change `x` notifies; `describe` adds state to a timeout. */
export function untilView<T extends { subscribe(fn: () => void): () => void }>(x: T, pred: (x: T) => boolean, what: string, ms = 20_000, describe: (x: T) => string = () => ''): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pred(x)) return resolve();
    const t = setTimeout(() => {
      off();
      const state = describe(x);
      reject(new Error(`timed out waiting for ${what}${state ? `; ${state}` : ''}`));
    }, ms);
    const off = x.subscribe(() => {
      if (!pred(x)) return;
      clearTimeout(t);
      off();
      resolve();
    });
  });
}

/** Sends `n` messages one after another, each once the relay sequenced the previous one; returns their ids. */
export async function sendSequenced(v: ThreadView, n: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = await v.send(`${prefix} ${i}`);
    ids.push(id);
    await untilView(v, (x) => x.messages.some((m) => m.id === id && m.seq !== undefined), `${prefix} ${i} sequenced`);
  }
  return ids;
}

/** A message of a view by id. */
export const byId = (v: ThreadView, id: string) => v.messages.find((m) => m.id === id);

/** The emoji on a message with who reacted, as a view shows them (`👍:alice,bob`). */
export const reactionsOf = (v: ThreadView, id: string): string[] => (byId(v, id)?.reactions ?? []).map((r) => `${r.emoji}:${r.users.join(',')}`);

/** A view's generation and messages (seq, text, deleted, emoji), for a timeout's message. */
export const lifecycleState = (v: ThreadView): string =>
  `generation ${v.generation.generation}, messages ${JSON.stringify(v.messages.map((m) => [m.seq, m.text, m.redacted, m.reactions?.map((r) => r.emoji)]))}`;
