/**
 * The relay's own writes into a thread's live document, as small functions over the
 * document and its roots: meta from the thread row, canon for stored messages, and what a
 * commit leaves to fix (tombstones, receipt maxima). All of them are RELAY_ORIGIN
 * transactions, staged and committed by the room before any peer sees them (thread-room.ts).
 */
import * as Y from 'yjs';
import type { ThreadRoots } from '../../shared/schema.ts';
import { type SystemEvent, systemEventsOf } from '../../shared/membership.ts';
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
 * Erasure on request: replaces each of `authorId`'s message records by one with the same
 * fields and an empty text, at the same place (seq and canon untouched), and deletes their
 * receipts and stream entries. The old records are deleted items, garbage-collected by Yjs,
 * so a snapshot of the document no longer holds their text. Returns how many records changed.
 */
export function redactAuthor(doc: Y.Doc, roots: ThreadRoots, authorId: string): number {
  const at: number[] = [];
  roots.messages.forEach((m, i) => {
    if (m.authorId === authorId && m.text !== '') at.push(i);
  });
  const receipts = [...roots.receipts.keys()].filter((k) => k.endsWith(`|${authorId}`));
  const streams = [...roots.streams.entries()].filter(([, s]) => (s as { authorId?: string }).authorId === authorId).map(([k]) => k);
  if (at.length === 0 && receipts.length === 0 && streams.length === 0) return 0;
  doc.transact(() => {
    for (const i of at.reverse()) {
      const m = roots.messages.get(i);
      roots.messages.delete(i, 1);
      roots.messages.insert(i, [{ ...m, text: '' }]);
    }
    for (const k of receipts) roots.receipts.delete(k);
    for (const k of streams) roots.streams.delete(k);
  }, RELAY_ORIGIN);
  return at.length;
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
 * Deletes what the document holds of deleted messages: their records in `messages`, their
 * revisions and their reactions (design/message-lifecycle.md). Canon and the deletion marker
 * stay: the message keeps its seq and place. With gc on, Yjs keeps only the deleted items'
 * ids and lengths once the transaction ends, so no later encoding carries the text.
 */
export function purgeRedacted(doc: Y.Doc, roots: ThreadRoots, ids: readonly string[]): void {
  const gone = new Set(ids);
  doc.transact(() => {
    // From the end: deleting shifts the indexes after it.
    const arr = roots.messages.toArray();
    for (let i = arr.length - 1; i >= 0; i--) if (gone.has(arr[i]!.id)) roots.messages.delete(i, 1);
    for (const root of [roots.edits, roots.reactions] as Y.Map<unknown>[]) {
      for (const key of [...root.keys()]) if (gone.has(key.slice(0, key.indexOf('|')))) root.delete(key);
    }
  }, RELAY_ORIGIN);
}
