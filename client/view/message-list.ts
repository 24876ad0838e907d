/**
 * The ordered messages a thread view shows: the sealed history window, then the live
 * document's messages in display order (shared/ordering.ts), each with its status. Built
 * incrementally: a record appended at the end of the live array (a send, a live message)
 * does not re-sort the thread.
 */
import type * as Y from 'yjs';
import { type OrderedMessage, displayOrder } from '../../shared/ordering.ts';
import { type CanonInfo, type MessageRecord, type ThreadRoots, parseRemoteAuthorId } from '../../shared/schema.ts';
import type { HistoryWindow } from '../history/history-window.ts';
import { type StatusInfo, deriveStatus } from './status.ts';
import type { TelemetryHook } from '../telemetry.ts';
import { LifecycleOverlay } from './lifecycle-overlay.ts';

/** A message as the app renders it. */
export interface ViewMessage extends StatusInfo {
  id: string;
  authorId: string;
  text: string;
  clientSentAt: number;
  replyTo?: string;
  /** Canonical position and relay time, once the relay has it. */
  seq?: number;
  sentAt?: number;
  /** Written by the signed-in user. */
  mine: boolean;
  /**
   * Set when the message came in from AT (ingested from another repo): the author's name
   * there and the DID of the repo it was written in. Show it, so a remote "alice" is never
   * mistaken for the local one.
   */
  origin?: { name: string; did: string };
  /** Set once the message was deleted: `text` is empty, the place (seq) stays. */
  redacted?: true;
  /** When the current text was written, once the author edited it ("edited"). */
  editedAt?: number;
  /** Reactions grouped by emoji, in first-reacted order (design/message-lifecycle.md). */
  reactions?: Array<{ emoji: string; count: number; users: string[]; mine: boolean }>;
}

export interface MessageListDeps {
  threadId: string;
  userId: string;
  atVisible(): boolean;
  telemetry: TelemetryHook;
}

export class MessageList {
  private cache: ViewMessage[] | null = null;
  /** Records appended at the end since `cache` was built; null when a full rebuild is needed. */
  private appended: MessageRecord[] | null = [];
  /** Length of the live messages array as last seen by the cache. */
  private rawLen = 0;
  private cachedIds = new Set<string>();
  private viewCache = new Map<string, { canon: CanonInfo | undefined; showAt: boolean; v: ViewMessage }>();
  private reportedDuplicates = new Set<string>();
  private historyVersion = -1;
  private historyViews: { version: number; showAt: boolean; list: ViewMessage[] } | null = null;

  constructor(private readonly deps: MessageListDeps) {}

  /** The list as last built (null before the first read), without building it. */
  get built(): ViewMessage[] | null {
    return this.cache;
  }

  /** Messages in display order: history window, then live canonical by seq, then pending. */
  get(roots: ThreadRoots, history: HistoryWindow, baseSeq: number): ViewMessage[] {
    if (this.cache && (this.appended === null || this.historyVersion !== history.version)) this.cache = null;
    if (!this.cache) {
      this.cache = this.compute(roots, history, baseSeq);
      this.appended = [];
    } else if (this.appended!.length) {
      // Fast path for the common case (a send, a live message): no re-sort of the thread.
      this.cache = this.appendPending(this.cache, this.appended!, roots, history, baseSeq);
      this.appended = [];
    }
    return this.cache;
  }

  /** Forces a full rebuild on the next read (a change other than an append). */
  invalidate(): void {
    this.appended = null;
  }

  /** A new live document: nothing of the old one's array positions holds. */
  reset(roots: ThreadRoots): void {
    this.cache = null;
    this.appended = [];
    this.rawLen = roots.messages.length;
  }

  /** Notes records appended at the end of the array; anything else needs a full rebuild. */
  onMessages(event: Y.YArrayEvent<MessageRecord>, roots: ThreadRoots): void {
    const delta = event.changes.delta;
    const insert = delta.length === 1 && this.rawLen === 0 ? delta[0]!.insert
      : delta.length === 2 && delta[0]!.retain === this.rawLen ? delta[1]!.insert : undefined;
    this.rawLen = roots.messages.length;
    if (!this.cache) return; // rebuilt from scratch on next read anyway
    if (Array.isArray(insert) && this.appended) this.appended.push(...(insert as MessageRecord[]));
    else this.appended = null;
  }

  /** Appends records that have no canon yet (they follow everything, in array order). */
  private appendPending(current: ViewMessage[], records: MessageRecord[], roots: ThreadRoots, history: HistoryWindow, baseSeq: number): ViewMessage[] {
    const canon = roots.canon;
    const showAt = this.deps.atVisible();
    const out = current.slice();
    for (const m of records) {
      if (!m || typeof m.id !== 'string') continue;
      const c = canon.get(m.id);
      if (c) return this.compute(roots, history, baseSeq); // already canonical: its place is by seq
      if (this.cachedIds.has(m.id)) {
        this.reportDuplicates([m, m]);
        continue;
      }
      this.cachedIds.add(m.id);
      out.push(this.overlay(roots).apply(this.viewOf({ ...m }, showAt)));
    }
    return out;
  }

  private compute(roots: ThreadRoots, history: HistoryWindow, baseSeq: number): ViewMessage[] {
    const canon = roots.canon;
    const showAt = this.deps.atVisible();
    const hist = this.historyList(history, showAt);
    const all = roots.messages.toArray().filter((m) => m && typeof m.id === 'string');
    // A live record the relay sequenced in a sealed generation (a rebase's re-append of a
    // message it already had) belongs to history: shown there, or when paged in.
    const raw = all.filter((m) => {
      if (history.get(m.id)) return false;
      const c = canon.get(m.id);
      return !c || c.seq > baseSeq;
    });
    // A deleted message's record is gone (the relay removed it); its place is its canon seq.
    const overlay = this.overlay(roots, true);
    if (roots.redactions.size) {
      const present = new Set(raw.map((m) => m.id));
      for (const id of roots.redactions.keys()) {
        const c = canon.get(id);
        if (!present.has(id) && c && c.seq > baseSeq && !history.get(id)) raw.push({ id, authorId: '', text: '', clientSentAt: 0 });
      }
    }
    const ordered = displayOrder(raw, (id) => canon.get(id));
    if (ordered.length !== raw.length) this.reportDuplicates(raw);
    const out = hist.map((v) => overlay.apply(v));
    this.cachedIds = new Set(hist.map((m) => m.id));
    for (const m of ordered) {
      this.cachedIds.add(m.id);
      out.push(overlay.apply(this.viewOf(m, showAt)));
    }
    this.rawLen = roots.messages.length;
    this.historyVersion = history.version;
    return out;
  }

  private historyList(history: HistoryWindow, showAt: boolean): ViewMessage[] {
    const h = this.historyViews;
    if (h && h.version === history.version && h.showAt === showAt) return h.list;
    const list = history.messages.map((m) => {
      const cached = this.viewCache.get(m.id);
      if (cached && cached.canon?.seq === m.seq && cached.canon.state === m.state && cached.showAt === showAt) return cached.v;
      const c: CanonInfo = { seq: m.seq, sentAt: m.sentAt, state: m.state };
      if (m.atUri !== undefined) c.atUri = m.atUri;
      if (m.error !== undefined) c.error = m.error;
      const r: OrderedMessage = { id: m.id, authorId: m.authorId, text: m.text, clientSentAt: m.clientSentAt, canon: c };
      if (m.replyTo !== undefined) r.replyTo = m.replyTo;
      const v = this.viewOf(r, showAt);
      if (m.redacted) return { ...v, text: '', redacted: true as const };
      return m.editedAt !== undefined ? { ...v, editedAt: m.editedAt } : v;
    });
    this.historyViews = { version: history.version, showAt, list };
    return list;
  }

  private lastOverlay: LifecycleOverlay | null = null;

  /** The overlay of edits, deletions and reactions (rebuilt by a full build, reused by appends). */
  private overlay(roots: ThreadRoots, fresh = false): LifecycleOverlay {
    if (fresh || !this.lastOverlay) this.lastOverlay = new LifecycleOverlay(roots, this.deps.userId);
    return this.lastOverlay;
  }

  /** Earlier versions of a message, oldest first, the current one last (original text first when known). */
  versions(roots: ThreadRoots, history: HistoryWindow, id: string): Array<{ text: string; editedAt?: number }> {
    const original = history.get(id)?.text ?? roots.messages.toArray().find((m) => m?.id === id)?.text;
    return this.overlay(roots, true).versions(original, id);
  }

  private viewOf(m: OrderedMessage, showAt: boolean): ViewMessage {
    const cached = this.viewCache.get(m.id);
    if (cached && cached.canon === m.canon && cached.showAt === showAt) return cached.v;
    const origin = parseRemoteAuthorId(m.authorId);
    const v: ViewMessage = {
      id: m.id,
      authorId: m.authorId,
      text: m.text,
      clientSentAt: m.clientSentAt,
      mine: m.authorId === this.deps.userId,
      // A message ingested from AT is an AT record whether or not this thread mirrors.
      ...deriveStatus(m.canon, showAt || !!origin),
    };
    if (m.replyTo !== undefined) v.replyTo = m.replyTo;
    if (origin) v.origin = origin;
    if (m.canon) {
      v.seq = m.canon.seq;
      v.sentAt = m.canon.sentAt;
    }
    this.viewCache.set(m.id, { canon: m.canon, showAt, v });
    return v;
  }

  private reportDuplicates(raw: MessageRecord[]): void {
    const seen = new Set<string>();
    for (const m of raw) {
      if (!seen.has(m.id)) {
        seen.add(m.id);
        continue;
      }
      if (this.reportedDuplicates.has(m.id)) continue;
      this.reportedDuplicates.add(m.id);
      this.deps.telemetry({ name: 'message_reconcile_duplicate_suppressed', threadId: this.deps.threadId, messageId: m.id, at: Date.now() });
    }
  }
}
