/**
 * The per-thread sync state machine (DESIGN.md, "The client"), pure: events in, next
 * state and effects out. The thread view feeds it and carries out the effects.
 *
 * - `UNKNOWN` until validated (on open, when the backend seq is unknown, after offline→online);
 * - `SYNCED` when the local canonical seqs are continuous and end at `lastKnownBackendSeq`;
 * - `OUT_OF_SYNC` otherwise, which asks for a resync of that thread (effect `resync`).
 */
import { type SequenceValidation, validateSequence } from '../../shared/sequence-validation.ts';

export type SyncStateName = 'UNKNOWN' | 'SYNCED' | 'OUT_OF_SYNC';
export type Connection = 'offline' | 'connecting' | 'online';

export interface SyncState {
  state: SyncStateName;
  /** Why the state is what it is: the last validation result, or `opened` / `reconnected`. */
  reason: SequenceValidation | 'opened' | 'reconnected';
  /** True only while a resync actually runs. */
  isResyncing: boolean;
  connection: Connection;
  /** Relay clock-free local time of the last completed sync with the relay, if any. */
  lastSyncedAt: number | null;
  /** True once the connection has been lost since it was last online. */
  wasOffline: boolean;
}

export type SyncEvent =
  | { type: 'validate'; seqs: Iterable<number>; lastKnownBackendSeq: number | undefined }
  | { type: 'connection'; connection: Connection }
  | { type: 'synced_with_relay'; at: number }
  | { type: 'resync_started' }
  | { type: 'resync_finished' }
  /** Another thread's connection came back: distrust this one too until validated. */
  | { type: 'reset' };

export type SyncEffect = 'resync' | 'revalidate';

export interface Transition {
  state: SyncState;
  effects: SyncEffect[];
}

export function initialSyncState(lastSyncedAt: number | null = null): SyncState {
  return { state: 'UNKNOWN', reason: 'opened', isResyncing: false, connection: 'offline', lastSyncedAt, wasOffline: false };
}

/** Applies one event. Never mutates `s`. */
export function nextSyncState(s: SyncState, e: SyncEvent): Transition {
  switch (e.type) {
    case 'validate': {
      const result = validateSequence(e.seqs, e.lastKnownBackendSeq);
      const state: SyncStateName =
        result === 'validated' ? 'SYNCED' : result === 'backend_seq_unknown' ? 'UNKNOWN' : 'OUT_OF_SYNC';
      const effects: SyncEffect[] = state === 'OUT_OF_SYNC' && !s.isResyncing ? ['resync'] : [];
      return { state: { ...s, state, reason: result }, effects };
    }
    case 'connection': {
      if (e.connection === s.connection) return { state: s, effects: [] };
      if (e.connection === 'online' && s.wasOffline) {
        // Offline→online: nothing known is trusted until validated again.
        return {
          state: { ...s, connection: 'online', wasOffline: false, state: 'UNKNOWN', reason: 'reconnected' },
          effects: ['revalidate'],
        };
      }
      const wasOffline = s.wasOffline || (s.connection === 'online' && e.connection !== 'online');
      return { state: { ...s, connection: e.connection, wasOffline }, effects: [] };
    }
    case 'synced_with_relay':
      return { state: { ...s, lastSyncedAt: e.at }, effects: ['revalidate'] };
    case 'resync_started':
      return { state: { ...s, isResyncing: true }, effects: [] };
    case 'resync_finished':
      return { state: { ...s, isResyncing: false }, effects: [] };
    case 'reset':
      return { state: { ...s, state: 'UNKNOWN', reason: 'reconnected' }, effects: [] };
  }
}
