/**
 * What a thread room's parts (admission, remote sync, ingest) see of the room: its
 * document, store and chain, and the few actions they may take on it. The room builds one
 * of these over its private state (thread-room.ts).
 */
import type * as Y from 'yjs';
import type { ThreadRoots } from '../../shared/schema.ts';
import type { RoomFanout } from '../fanout/room-fanout.ts';
import type { Logger } from '../ops/logger.ts';
import type { Store, StoredMessage, ThreadRow } from '../store/store.ts';
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
  /** True once nothing more is applied or stored: the generation is history, or the room broke. */
  sealed(): boolean;
  /** Queues canon entries for stored messages (a relay change: committed, then sent to all). */
  writeCanon(messages: StoredMessage[]): void;
  /** Writes thread metadata into `meta` where it differs from the store. */
  syncMeta(thread: ThreadRow): void;
  /** Makes canon agree with the stored messages. */
  repairCanon(): Promise<void>;
  /** Lets the next flush retry held updates (their missing structs may be here now). */
  requestRetry(): void;
  /** Re-reads the stored log and applies what the document lacks. */
  catchUp(): void;
  /** Another instance rolled this generation: seal here too. */
  sealFromElsewhere(row?: ThreadRow): Promise<void>;
}
