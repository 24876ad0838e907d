/**
 * The relay's own writes into a thread's live document, as small functions over the
 * document and its roots: meta from the thread row, canon for stored messages, and what a
 * commit leaves to fix (tombstones, receipt maxima). All of them are RELAY_ORIGIN
 * transactions, staged and committed by the room before any peer sees them (thread-room.ts).
 */
import * as Y from 'yjs';
import type { ThreadRoots } from '../../shared/schema.ts';
import { type SystemEvent, systemEventsOf } from '../../shared/membership.ts';
import { removeRedacted } from '../../shared/message-lifecycle.ts';
import type { StoredMessage, ThreadRow } from '../store/store.ts';
import { type Collecting, canonOf, readAtOf } from './room-types.ts';
import { RELAY_ORIGIN } from './origins.ts';

/** Writes thread metadata into `meta` where it differs from the row. */
export function writeMeta(doc: Y.Doc, roots: ThreadRoots, thread: ThreadRow): void {
  const meta = roots.meta;
  const want: Record<string, unknown> = {
    title: thread.title,
    participants: thread.participants,
    archived: thread.archived,
    createdAt: thread.createdAt,
    mirror: thread.mirror,
    moderators: thread.moderators,
    ...(thread.owner ? { owner: thread.owner } : {}),
    generation: thread.generation,
    baseSeq: thread.baseSeq,
    ...(thread.atUri ? { atUri: thread.atUri } : {}),
  };
  const changed = Object.entries(want).filter(([k, v]) => JSON.stringify(meta.get(k)) !== JSON.stringify(v));
  if (changed.length === 0) return;
  doc.transact(() => {
    for (const [k, v] of changed) meta.set(k, v);
  }, RELAY_ORIGIN);
}

/** Appends a membership change to the document's `events` root (shared/membership.ts). */
export function appendSystemEvent(doc: Y.Doc, event: SystemEvent): void {
  doc.transact(() => systemEventsOf(doc).push([event]), RELAY_ORIGIN);
}

/**
 * Erasure on request: marks `ids` (messages `authorId` wrote, live or sealed) deleted as a
 * delete by their author would (`redactions`, `by` the author: the request is theirs; a
 * marker already there stays), and drops the author's receipts and stream entries. The text
 * itself goes by the one redaction path (`purgeRedacted`, then the store). Returns how many
 * of the ids have a record in this document.
 */
export function markErased(doc: Y.Doc, roots: ThreadRoots, authorId: string, ids: readonly string[], at: number): number {
  const want = new Set(ids);
  const live = roots.messages.toArray().filter((m) => want.has(m.id)).length;
  doc.transact(() => {
    for (const id of want) if (!roots.redactions.has(id)) roots.redactions.set(id, { by: authorId, at });
    for (const k of [...roots.receipts.keys()]) if (k.endsWith(`|${authorId}`)) roots.receipts.delete(k);
    for (const [k, s] of [...roots.streams.entries()]) if ((s as { authorId?: string }).authorId === authorId) roots.streams.delete(k);
  }, RELAY_ORIGIN);
  return live;
}

/** Writes canon entries for stored messages. */
export function writeCanon(doc: Y.Doc, roots: ThreadRoots, messages: StoredMessage[]): void {
  if (messages.length === 0) return;
  doc.transact(() => {
    for (const m of messages) roots.canon.set(m.id, canonOf(m));
  }, RELAY_ORIGIN);
}

/**
 * The relay's writes after a commit, in one transaction: canon for the stored messages,
 * tombstones for messages refused by business rules (archived thread), receipts put back to
 * their maximum where a lower `readAt` won the Yjs merge, and the owners of new client ids.
 */
export function writeAfterCommit(doc: Y.Doc, roots: ThreadRoots, stored: StoredMessage[], c: Collecting): void {
  const fixes: Array<[string, number]> = [];
  for (const [key, max] of c.receipts) {
    if (max === -Infinity) continue;
    if (readAtOf(roots.receipts.get(key)) < max) fixes.push([key, max]);
  }
  if (stored.length === 0 && c.tombstones.length === 0 && fixes.length === 0 && c.owners.size === 0) return;
  doc.transact((tr) => {
    for (const m of c.tombstones) {
      const id = Y.createID(m.client, m.clock);
      Y.getItemCleanStart(tr, id);
      const item = Y.getItemCleanEnd(tr, doc.store, id);
      if (item instanceof Y.Item && !item.deleted) item.delete(tr);
    }
    writeCanon(doc, roots, stored); // nested: joins this transaction
    for (const [key, readAt] of fixes) roots.receipts.set(key, { readAt });
    for (const [client, user] of c.owners) roots.owners.set(String(client), user);
  }, RELAY_ORIGIN);
}

/**
 * Deletes what the document holds of deleted messages (design/message-lifecycle.md), as one
 * relay change: shared/message-lifecycle.ts `removeRedacted`, the same function the store
 * runs over merged log rows. Canon and the deletion marker stay: the message keeps its seq
 * and place.
 */
export function purgeRedacted(doc: Y.Doc, roots: ThreadRoots, ids: readonly string[]): void {
  doc.transact(() => removeRedacted(roots, ids), RELAY_ORIGIN);
}
