/**
 * The shapes a thread view shares with its client and its users: what the view needs from
 * the client (`ViewContext`), and the thread metadata and sync info it reports.
 */
import type { HistoryStore } from '../history/history-store.ts';
import type { LocalStore } from '../local/local-store.ts';
import type { Capabilities, RelayApi } from '../link/relay-api.ts';
import type { SendQueue } from '../local/send-queue.ts';
import type { SyncState } from './sync-state.ts';
import type { TelemetryHook } from '../telemetry.ts';
import type { ThreadList } from '../threads/thread-list.ts';
import type { ThreadView } from './thread-view.ts';

export interface ThreadMetaView {
  title: string;
  participants: string[];
  archived: boolean;
  mirror: boolean;
  createdAt: number;
  /** The thread's at:// identity when it is shared through AT: another relay follows it by this URI. */
  atUri: string | null;
}

export interface SyncInfo extends Omit<SyncState, 'wasOffline'> {
  lastKnownBackendSeq: number | undefined;
}

/** What a view needs from its client. */
export interface ViewContext {
  threadId: string;
  userId: string;
  dbName: string;
  lockName: string;
  channelName: string;
  wsUrl: string;
  getToken(): Promise<string>;
  /** Guest mode: no relay connection at all (tabs still share through the BroadcastChannel). */
  guest?: boolean;
  WebSocketPolyfill?: typeof WebSocket;
  api: RelayApi;
  threads: ThreadList;
  store: LocalStore;
  sendQueue: SendQueue;
  telemetry: TelemetryHook;
  capabilities(): Capabilities | null;
  /** The client's cache of sealed history (null for a guest: its threads never roll). */
  history(): Promise<HistoryStore | null>;
  revalidateIntervalMs: number;
  /** Called when this view's relay connection came back after being lost. */
  onReconnected(): void;
  onConnectionChange(): void;
  onClosed(view: ThreadView): void;
}
