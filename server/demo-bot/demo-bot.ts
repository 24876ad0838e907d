/**
 * A demo bot member for `npm start` (SKEIN_DEMO_BOT): add `skein-bot` to a thread and it
 * answers every new message with a streamed reply. It is an ordinary client — a stock
 * y-websocket connection with its own token, checked by the policy like any member — so it
 * also shows how an AI worker plugs in.
 */
import { ulid } from 'ulid';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { type MessageRecord, threadRoots } from '../../shared/schema.ts';
import type { StreamEntry } from '../../shared/stream.ts';
import type { Logger } from '../ops/logger.ts';
import type { Store } from '../store/store.ts';
import type { UserEvents } from '../http/user-events.ts';
import { replyChunks } from './reply-text.ts';

export const DEMO_BOT_ID = 'skein-bot';
const CHUNK_MS = 60;

export interface DemoBotDeps {
  /** The relay's own URL (http://host:port). */
  url: string;
  token: string;
  store: Store;
  userEvents: UserEvents;
  log: Logger;
}

export class DemoBot {
  private readonly threads = new Map<string, { provider: WebsocketProvider; doc: Y.Doc }>();
  private stopped = false;
  private readonly off: () => void;

  constructor(private readonly d: DemoBotDeps) {
    this.off = d.userEvents.listen((users, e) => {
      if ([...users].includes(DEMO_BOT_ID) && (e.change === 'created' || e.change === 'members')) this.join(e.threadId);
    });
  }

  async start(): Promise<void> {
    for (const t of await this.d.store.listThreadsForUser(DEMO_BOT_ID)) if (!t.archived) this.join(t.id);
    this.d.log.info({ event: 'demo_bot_started', userId: DEMO_BOT_ID }, `demo bot "${DEMO_BOT_ID}" is on: add it to a thread`);
  }

  private join(threadId: string): void {
    if (this.stopped || this.threads.has(threadId)) return;
    const doc = new Y.Doc();
    const roots = threadRoots(doc);
    const wsUrl = `${this.d.url.replace(/^http/, 'ws')}/v1/sync`;
    const provider = new WebsocketProvider(wsUrl, threadId, doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: this.d.token },
    });
    this.threads.set(threadId, { provider, doc });
    // New messages are answered, never the history: those written before the bot joined are
    // history. One that arrives with the first sync (sent while the bot was connecting) is new.
    const joinedAt = Date.now();
    let known: Set<string> | null = null;
    provider.on('sync', (synced: boolean) => {
      if (!synced || known) return;
      const all = roots.messages.toArray();
      known = new Set(all.filter((m) => m.clientSentAt < joinedAt || m.authorId === DEMO_BOT_ID).map((m) => m.id));
      for (const m of all) {
        if (known.has(m.id)) continue;
        known.add(m.id);
        void this.reply(doc, m.id, m.text);
      }
    });
    roots.messages.observe((e) => {
      if (!known || e.transaction.local) return;
      for (const item of e.changes.added) {
        for (const m of item.content.getContent() as MessageRecord[]) {
          if (known.has(m.id) || m.authorId === DEMO_BOT_ID) continue;
          known.add(m.id);
          void this.reply(doc, m.id, m.text);
        }
      }
    });
  }

  private async reply(doc: Y.Doc, replyTo: string, text: string): Promise<void> {
    const roots = threadRoots(doc);
    const id = ulid();
    roots.streams.set(id, { authorId: DEMO_BOT_ID, startedAt: Date.now(), text: '', status: 'streaming', replyTo });
    for (const chunk of replyChunks(text)) {
      await new Promise((r) => setTimeout(r, CHUNK_MS));
      const cur = roots.streams.get(id);
      if (this.stopped || !cur || cur.status !== 'streaming') return;
      roots.streams.set(id, { ...cur, text: cur.text + chunk } satisfies StreamEntry);
    }
    const done = roots.streams.get(id);
    if (!done || done.status !== 'streaming') return;
    doc.transact(() => {
      roots.messages.insert(roots.messages.length, [{ id, authorId: DEMO_BOT_ID, text: done.text.trimEnd(), clientSentAt: Date.now(), replyTo }]);
      roots.streams.delete(id);
    });
  }

  stop(): void {
    this.stopped = true;
    this.off();
    for (const { provider, doc } of this.threads.values()) {
      provider.destroy();
      doc.destroy();
    }
    this.threads.clear();
  }
}
