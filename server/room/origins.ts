/**
 * Transaction origins of a room's document: who made a change decides where it goes
 * (thread-room.ts `onDocUpdate`). A client's change has its SyncConnection as origin.
 */

/** Changes the relay itself makes (canon, meta, stream sweeps): staged, committed, then sent. */
export const RELAY_ORIGIN = Symbol('skein-relay');
/** Replaying the stored log. */
export const LOAD_ORIGIN = Symbol('skein-load');
/** Messages the relay appends from AT ingest or salvage (committed with their seqs). */
export const INGEST_ORIGIN = Symbol('skein-ingest');
/** Updates another relay instance stored (fan-out, catch-up): checked there already. */
export const REMOTE_ORIGIN = Symbol('skein-remote');
