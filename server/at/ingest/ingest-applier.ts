/**
 * Appends accepted records to their threads. A record is stored (with the cursor) before it
 * is applied, and marked applied after its thread committed it; a crash in between leaves
 * it pending, and applying it again is a no-op by message id. So every accepted record ends
 * up in its thread exactly once. Edits and deletions of records (stored with their commit
 * too) follow once their record is applied, and are dropped after their thread applied
 * them; applying one again is a no-op (an edit is keyed by its commit's rev, a deletion is final).
 */
import type { AtMessageRecord } from '../../../shared/at-lexicon.ts';
import type { DocRegistry } from '../../room/doc-registry.ts';
import type { Logger } from '../../ops/logger.ts';
import type { Store, StoredMessage } from '../../store/store.ts';
import type { IngestedRecord, RecordChange } from './ingest-store.ts';
import { ingestedMessage } from './ingested-message.ts';
import { BackendUnavailableError, type IngestedChange } from '../../room/room-types.ts';

const PAGE = 500;

export interface IngestApplierDeps {
  store: Store;
  registry: DocRegistry;
  log: Logger;
  /** Called with the messages each thread sequenced (lag metrics, thread-list push). */
  onApplied?: (records: IngestedRecord[], stored: StoredMessage[]) => void;
  /** Called after edits or deletions were applied to a thread. */
  onChanged?: (threadId: string) => void;
}

export class IngestApplier {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly d: IngestApplierDeps) {}

  /** Applies whatever is pending now (coalesced: one pass at a time, re-run if notified meanwhile). */
  notify(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.drain();
        } while (this.again && !this.stopped);
      } catch (err) {
        // The records stay pending either way; an outage is expected, not an error of ours.
        if (err instanceof BackendUnavailableError) this.d.log.warn({ event: 'ingest_apply_deferred', reason: err.reason }, 'backends unavailable: ingested records wait');
        else this.d.log.error({ event: 'ingest_apply_failed', err: String(err) }, 'applying ingested records failed');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async drain(): Promise<void> {
    const ingest = this.d.store.ingest;
    for (;;) {
      const pending = await ingest.pendingRecords(PAGE);
      if (pending.length === 0) break;
      for (const [threadId, records] of byThread(pending)) {
        if (this.stopped) return;
        const thread = await this.d.store.getThread(threadId);
        let stored: StoredMessage[] = [];
        if (thread) {
          const items = records.map((r) => ({ message: ingestedMessage(r.did, r.rkey, r.value as unknown as AtMessageRecord), atUri: r.uri, atCid: r.cid }));
          stored = await this.d.registry.withLiveRoom(thread, (room) => room.appendIngested(items));
        }
        await ingest.markApplied(records.map((r) => r.uri), Date.now());
        this.d.onApplied?.(records, stored);
      }
      if (pending.length < PAGE) break;
    }
    await this.drainChanges();
  }

  /** Applies stored edits and deletions whose record is in its thread already (in commit order). */
  private async drainChanges(): Promise<void> {
    const ingest = this.d.store.ingest;
    for (;;) {
      const pending = await ingest.pendingChanges(PAGE);
      if (pending.length === 0) return;
      for (const [threadId, changes] of byThread(pending)) {
        if (this.stopped) return;
        const thread = await this.d.store.getThread(threadId);
        if (thread) await this.d.registry.withLiveRoom(thread, (room) => room.applyIngestedChanges(changes.map(toIngestedChange)));
        await ingest.dropChanges(changes);
        this.d.onChanged?.(threadId);
      }
      if (pending.length < PAGE) return;
    }
  }
}

/** `items` grouped by thread, each group in the given order. */
function byThread<T extends { threadId: string }>(items: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const i of items) {
    const list = out.get(i.threadId);
    if (list) list.push(i);
    else out.set(i.threadId, [i]);
  }
  return out;
}

/** The room's view of a stored change: an edit keyed by the commit's rev, or a deletion. */
function toIngestedChange(c: RecordChange): IngestedChange {
  if (c.action === 'delete' || !c.value) return { kind: 'delete', messageId: c.messageId, authorId: c.authorId, at: c.ingestedAt };
  const r = c.value as unknown as AtMessageRecord;
  const editedAt = Date.parse(r.editedAt ?? '');
  return { kind: 'edit', messageId: c.messageId, authorId: c.authorId, editId: c.rev, text: r.text, editedAt: Number.isFinite(editedAt) ? editedAt : c.ingestedAt };
}
