/**
 * React binding of the SDK (`skein/react`): `useThread(client, threadId)` renders a thread
 * and re-renders on every change the view reports (at most once per animation frame), on
 * React's `useSyncExternalStore`, so concurrent rendering never tears.
 *
 * ```tsx
 * function Chat({ client, id }: { client: SkeinClient; id: string }) {
 *   const { messages, syncInfo, send } = useThread(client, id);
 *   return <>{messages.map((m) => <p key={m.id}>{m.authorId}: {m.text} ({m.status})</p>)}
 *     <button onClick={() => send('hi')}>Say hi</button></>;
 * }
 * ```
 */
import { useCallback, useMemo, useSyncExternalStore } from 'react';
import type { SkeinClient } from './skein-client.ts';
import type { SyncInfo, ThreadMetaView, ThreadView, ViewMessage } from './view/thread-view.ts';

/** What a component renders from one thread. */
export interface ThreadSnapshot {
  /** The newest `limit` messages in display order, with statuses. */
  messages: ViewMessage[];
  syncInfo: SyncInfo;
  meta: ThreadMetaView | null;
  unreadCount: number;
  /** True until the whole local copy is loaded (messages is then the cached newest window). */
  isPartial: boolean;
}

export interface UseThread extends ThreadSnapshot {
  /** Appends a message; resolves with its id once it is durable in IndexedDB. */
  send(text: string, opts?: { replyTo?: string }): Promise<string>;
  markRead(messageId: string): void;
  /** The underlying view (typing, presence, receipts, retry, resync…). */
  view: ThreadView;
}

/**
 * Subscribes a component to thread `threadId` of `client`. The view stays open in the client
 * (opening a thread again returns the same view), so remounts are instant.
 */
export function useThread(client: SkeinClient, threadId: string, opts: { limit?: number } = {}): UseThread {
  const limit = opts.limit ?? 200;
  const view = useMemo(() => client.openThread(threadId), [client, threadId]);
  // A snapshot object per change: getSnapshot must return the same object until the view
  // reports a change, or React would re-render forever.
  const store = useMemo(() => {
    let version = 0;
    let snap: (ThreadSnapshot & { version: number }) | null = null;
    return {
      subscribe: (onChange: () => void) =>
        view.subscribe(() => {
          version++;
          onChange();
        }),
      get: (): ThreadSnapshot => {
        if (!snap || snap.version !== version) {
          snap = { version, messages: view.latest(limit), syncInfo: view.syncInfo, meta: view.meta, unreadCount: view.unreadCount, isPartial: view.isPartial };
        }
        return snap;
      },
    };
  }, [view, limit]);
  const snapshot = useSyncExternalStore(store.subscribe, store.get, store.get);
  const send = useCallback((text: string, o?: { replyTo?: string }) => view.send(text, o), [view]);
  const markRead = useCallback((id: string) => view.markRead(id), [view]);
  return { ...snapshot, send, markRead, view };
}
