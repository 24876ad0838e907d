/**
 * What a thread room's parts (admission, remote sync, ingest) see of the room: its
 * document, store and chain, and the few actions they may take on it. The room builds one
 * of these over its private state (thread-room.ts).
 */
import type * as Y from 'yjs';
import type { ThreadRoots } from '../../shared/schema.ts';
import type { RoomFanout } from '../fanout/room-fanout.ts';
import type { Logger } from '../ops/logger.ts';
import type { SyncConnection } from './sync-connection.ts';
import type { GenerationSealedError, Store, StoredMessage, ThreadRow } from '../store/store.ts';
import type { ThreadRoomOptions } from './room-types.ts';
import type { RoomChain } from './room-chain.ts';

/** Transaction origin of changes the relay itself makes (canon, meta). */
export const RELAY_ORIGIN = Symbol('skein-relay');
/** Transaction origin while replaying the stored log. */
export const LOAD_ORIGIN = Symbol('skein-load');
/** Transaction origin of messages the relay appends from AT ingest (stored with their seqs). */
export const INGEST_ORIGIN = Symbol('skein-ingest');
/** Transaction origin of updates another relay instance stored (fan-out, catch-up): checked there already. */
export const REMOTE_ORIGIN = Symbol('skein-remote');

export interface RoomHost {
  readonly doc: Y.Doc;
  readonly roots: ThreadRoots;
  readonly conns: ReadonlySet<SyncConnection>;
  readonly store: Store;
  readonly log: Logger;
  readonly opts: ThreadRoomOptions;
  /** This room's side of the fan-out to other instances; null when the relay runs alone. */
  readonly fan: RoomFanout | null;
  readonly chain: RoomChain;
  /** Ids accepted into the document whose canon is not written yet. */
  readonly uncanonIds: Set<string>;
  /** The thread's row as the room knows it (replaced on a roll or a meta change). */
  thread(): ThreadRow;
  /** True once this generation is history: nothing more is applied or stored. */
  sealed(): boolean;
  /** Writes canon entries for stored messages (relay-authored, persisted, sent to all). */
  writeCanon(messages: StoredMessage[]): void;
  /** Writes thread metadata into `meta` where it differs from the store. */
  syncMeta(thread: ThreadRow): void;
  /** Makes canon agree with the stored messages. */
  repairCanon(): Promise<void>;
  /** The thread's log grew by `rows` rows. */
  addedRows(rows: number): void;
  /** Lets the next flush retry held updates (their missing structs may be here now). */
  requestRetry(): void;
  /** Re-reads the stored log and applies what the document lacks. */
  catchUp(): void;
  /** Another instance rolled this generation: seal here too. */
  sealFromElsewhere(row?: ThreadRow): Promise<void>;
  /** The store refused a write of this generation: seal. */
  sealedOnWrite(err: GenerationSealedError): Promise<void>;
  /** Storage failed: every peer is closed with STORAGE_FAILURE and the room is dropped. */
  storageFailed(event: string, err: unknown, message: string): void;
}
