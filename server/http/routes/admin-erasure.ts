/**
 * `POST /v1/admin/erasure` (issue 30, docs/design/membership.md): erases everything a user
 * wrote, across threads: each of their messages (sealed generations included) is deleted
 * through its thread's room exactly as a delete is (docs/design/message-lifecycle.md: live
 * document, rows, update log, AT record), and their receipts go. Answers with a report of ids
 * and counts (never text). Admin token only, like `/v1/admin/federation`.
 */
import { Hono } from 'hono';
import { isValidUserId } from '../../../shared/schema.ts';
import type { AppEnv, RelayContext } from '../../context.ts';
import { badRequest } from '../http-error.ts';
import { requireAdmin } from './admin-federation.ts';

export interface ErasureReport {
  userId: string;
  threads: Array<{ threadId: string; messages: number; liveRecords: number; atRecordsDeleted: number }>;
  totals: { threads: number; messages: number; atRecordsDeleted: number };
  /** AT records not deleted yet (no bridge, or the PDS refused): the bridge deletes them later, as for any deleted message. */
  atRecordsPending: string[];
  /** Whether the database files were scrubbed of the old text (SQLite: VACUUM and WAL truncate). */
  scrubbed: boolean;
}

export function adminErasureRoutes(ctx: RelayContext, adminToken: string): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireAdmin(adminToken));

  app.post('/', async (c) => {
    const body = (await c.req.json().catch(() => null)) as { userId?: unknown } | null;
    const userId = body?.userId;
    if (typeof userId !== 'string' || !isValidUserId(userId)) throw badRequest('userId must be a user id');
    const authored = await ctx.store.listAuthored(userId);
    await ctx.store.dropReceipts(userId);
    const byThread = new Map<string, typeof authored>();
    for (const m of authored) byThread.set(m.threadId, [...(byThread.get(m.threadId) ?? []), m]);
    // Threads they are in without a message of theirs: their receipts and streams still go.
    for (const t of await ctx.store.listThreadsForUser(userId)) if (!byThread.has(t.id)) byThread.set(t.id, []);
    // And threads they were removed from: their receipts stay in the live document after a removal.
    for (const id of await ctx.store.listFormerThreads(userId)) if (!byThread.has(id)) byThread.set(id, []);
    const report: ErasureReport = { userId, threads: [], totals: { threads: 0, messages: 0, atRecordsDeleted: 0 }, atRecordsPending: [], scrubbed: false };
    for (const [threadId, msgs] of byThread) {
      const thread = await ctx.store.getThread(threadId);
      if (!thread) continue;
      // Each message is deleted as a delete is (ThreadRoom.eraseMessages): one redaction path.
      const ids = msgs.map((m) => m.messageId);
      const liveRecords = await ctx.registry.withLiveRoom(thread, (room) => room.eraseMessages(userId, ids));
      // The bridge deletes the records of deleted rows on its own too; done here, the report can say so.
      const uris = msgs.map((m) => m.atUri).filter((u): u is string => !!u);
      let deleted: string[] = [];
      if (uris.length && ctx.bridge) {
        try {
          deleted = await ctx.bridge.deleteMessageRecords(uris);
          const gone = new Set(deleted);
          await ctx.store.clearAtUri(msgs.filter((m) => m.atUri && gone.has(m.atUri)).map((m) => ({ threadId, messageId: m.messageId })));
        } catch (err) {
          ctx.log.warn({ event: 'erasure_at_failed', threadId, err: err instanceof Error ? err.name : 'Error' }, 'deleting AT records failed');
        }
      }
      report.atRecordsPending.push(...uris.filter((u) => !deleted.includes(u)));
      if (msgs.length === 0) continue;
      report.threads.push({ threadId, messages: msgs.length, liveRecords, atRecordsDeleted: deleted.length });
      report.totals.messages += msgs.length;
      report.totals.atRecordsDeleted += deleted.length;
    }
    report.totals.threads = report.threads.length;
    report.scrubbed = ctx.store.scrub ? await ctx.store.scrub() : false;
    ctx.log.info({ event: 'user_erased', threads: report.totals.threads, messages: report.totals.messages, atRecordsDeleted: report.totals.atRecordsDeleted }, 'erased a user on request');
    return c.json(report);
  });

  return app;
}
