/**
 * A thread view's writes into the live generation: messages (durable in IndexedDB before
 * `send` resolves), streamed replies, imported guest messages and read receipts. Always into
 * the generation the view holds at that moment (a rebase moves what was pending).
 */
import { monotonicFactory } from 'ulid';
import { DEFAULT_MAX_TEXT_LENGTH } from '../../shared/schema.ts';
import type { LiveGeneration } from '../generations/live-generation.ts';
import { afterPendingWrites } from '../local/local-store.ts';
import { writeReceipt } from './receipts.ts';
import type { Capabilities } from '../link/relay-api.ts';
import type { SendQueue } from '../local/send-queue.ts';
import { type StreamHandle, startStream, streamLimitsOf } from './stream.ts';
import type { TelemetryHook } from '../telemetry.ts';
import { SkeinError, appendDurably, importedRecords, newRecord } from './view-writes.ts';

const nextId = monotonicFactory();

/** What the writer needs of its view. */
export interface WriterHost {
  threadId: string;
  userId: string;
  guest: boolean;
  sendQueue: SendQueue;
  telemetry: TelemetryHook;
  /** Transaction origin of this tab's own edits. */
  origin: unknown;
  ready: Promise<void>;
  relaySynced: Promise<void>;
  capabilities(): Capabilities | null;
  isClosed(): boolean;
  archived(): boolean;
  generation(): LiveGeneration;
}

export class ViewWriter {
  constructor(private readonly host: WriterHost) {}

  /** See ThreadView.send. */
  async send(text: string, opts: { replyTo?: string }): Promise<string> {
    const h = this.host;
    this.open();
    await h.ready;
    const record = newRecord(nextId(), h.userId, text, opts, this.maxTextLength());
    if (h.archived()) throw new SkeinError('THREAD_ARCHIVED', 'thread is archived');
    const durable = appendDurably(h.generation(), [record], h.origin, h.sendQueue, h.threadId);
    h.telemetry({ name: 'message_send_optimistic_created', threadId: h.threadId, messageId: record.id, at: Date.now() });
    await durable;
    return record.id;
  }

  /** See ThreadView.startStream. */
  startStream(opts: { replyTo?: string }): StreamHandle {
    const h = this.host;
    this.open();
    if (h.archived()) throw new SkeinError('THREAD_ARCHIVED', 'thread is archived');
    const gen = h.generation();
    return startStream(
      {
        doc: gen.doc,
        roots: gen.roots,
        userId: h.userId,
        origin: h.origin,
        limits: () => streamLimitsOf(h.capabilities()?.limits),
        sent: async (record) => {
          const durable = afterPendingWrites(h.generation().persistence.db!, 'updates');
          h.sendQueue.add(record.id, { threadId: h.threadId, createdAt: Date.now() });
          await durable;
        },
        error: (code, message) => new SkeinError(code, message),
      },
      nextId(),
      opts,
    );
  }

  /** See ThreadView.importMessages. */
  async importMessages(list: Array<{ id: string; text: string; clientSentAt: number; replyTo?: string }>): Promise<number> {
    const h = this.host;
    this.open();
    await h.ready;
    if (!h.guest) await h.relaySynced;
    const gen = h.generation();
    const have = new Set(gen.roots.messages.toArray().map((m) => m.id));
    const records = importedRecords(list, have, h.userId, this.maxTextLength());
    if (records.length === 0) return 0;
    await appendDurably(gen, records, h.origin, h.sendQueue, h.threadId);
    return records.length;
  }

  /** See ThreadView.markRead. */
  markRead(messageId: string): boolean {
    const h = this.host;
    if (h.isClosed()) return false;
    const gen = h.generation();
    let wrote = false;
    gen.doc.transact(() => {
      wrote = writeReceipt(gen.roots.receipts, messageId, h.userId);
    }, h.origin);
    return wrote;
  }

  private open(): void {
    if (this.host.isClosed()) throw new SkeinError('CLOSED', 'thread view is closed');
  }

  private maxTextLength(): number {
    return this.host.capabilities()?.limits.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH;
  }
}
