/**
 * Thread identity in AT for the write bridge: the `threadUri` a thread's message records
 * carry, and the `dev.skein.chat.thread` record behind it. A thread created here gets
 * `at://<relay did>/dev.skein.chat.thread/<thread id>` (set as soon as the relay's DID is
 * known) and that record written once; a thread that follows another relay's thread carries
 * the followed URI and writes no record of its own.
 */
import { THREAD_NSID, type AtThreadRecord, threadAtUri } from '../../../shared/at-lexicon.ts';
import type { AtRepoClient } from '../at-client.ts';
import { checkRecord } from '../at-record.ts';
import type { DocRegistry } from '../../room/doc-registry.ts';
import type { Logger } from '../../ops/logger.ts';
import type { Store, ThreadRow } from '../../store/store.ts';

export class ThreadRecords {
  /** Threads whose record is known to exist in the repo (per process: a restart re-checks once). */
  private readonly written = new Set<string>();
  /** Threads whose record was asked for before the first login (e.g. created while the embedded PDS started). */
  private readonly beforeLogin = new Set<string>();
  private memberWrites: Promise<void> = Promise.resolve();

  constructor(
    private readonly d: { store: Store; registry: DocRegistry; client: AtRepoClient; log: Logger },
  ) {}

  /**
   * The thread's at:// identity for its message records (null when the thread is unknown or
   * the relay has no DID yet); a thread of this relay gets its URI here once the DID is known.
   */
  async uriFor(threadId: string): Promise<string | null> {
    const { store, client } = this.d;
    const thread = await store.getThread(threadId);
    if (!thread || thread.atUri || !client.did) return thread?.atUri ?? null;
    const updated = (await store.setThreadAtUri(thread.id, threadAtUri(client.did, thread.id))) ?? thread;
    (await this.d.registry.peek(thread.id))?.syncMeta(updated);
    this.d.registry.announce(thread.id);
    return updated.atUri;
  }

  /**
   * Writes the thread record when this relay owns the thread and has not written it yet.
   * Called after a successful message write (so a broken PDS or login is reported by the
   * message path) and at creation; a failure is retried with the next batch.
   */
  async ensureRecord(threadId: string): Promise<void> {
    const { client, log } = this.d;
    if (this.written.has(threadId)) return;
    if (!client.loggedIn || !client.did) {
      // Written once a login works (afterLogin), so a thread with no messages yet gets its record too.
      this.beforeLogin.add(threadId);
      return;
    }
    const uri = await this.uriFor(threadId);
    const thread = await this.d.store.getThread(threadId);
    if (!thread || uri !== threadAtUri(client.did, threadId)) return;
    try {
      if (!(await client.getRecord(THREAD_NSID, thread.id))) {
        await client.createRecords(THREAD_NSID, [{ rkey: thread.id, record: recordOf(thread) }]);
        log.info({ event: 'bridge_thread_record_written', threadId: thread.id }, 'thread record written');
      }
      this.written.add(thread.id);
    } catch (err) {
      log.warn({ event: 'bridge_thread_record_failed', threadId: thread.id, err: err instanceof Error ? err.name : 'Error' }, 'writing the thread record failed; retried later');
    }
  }

  /** Writes the records asked for before the login (called by the outbox once logged in). */
  async afterLogin(): Promise<void> {
    const ids = [...this.beforeLogin];
    this.beforeLogin.clear();
    for (const id of ids) await this.ensureRecord(id);
  }

  /**
   * Rewrites the thread record of a thread this relay owns after its remote members changed:
   * a relay that follows the thread later reads them there and lets them in too.
   */
  writeMembers(threadId: string): Promise<void> {
    // One write at a time, each reading the thread when it runs: two quick changes cannot
    // land in the wrong order and leave the record with the older member list.
    this.memberWrites = this.memberWrites.then(() => this.putMembers(threadId));
    return this.memberWrites;
  }

  private async putMembers(threadId: string): Promise<void> {
    const { client, log } = this.d;
    if (!client.loggedIn || !client.did) return;
    const thread = await this.d.store.getThread(threadId);
    if (!thread || thread.atUri !== threadAtUri(client.did, threadId)) return;
    try {
      await client.putRecord(THREAD_NSID, thread.id, recordOf(thread));
      this.written.add(thread.id);
      log.info({ event: 'bridge_thread_record_written', threadId: thread.id, members: thread.remotes.length }, 'thread record written');
    } catch (err) {
      log.warn({ event: 'bridge_thread_record_failed', threadId: thread.id, err: err instanceof Error ? err.name : 'Error' }, 'writing the thread record failed');
    }
  }
}

/** The thread record of `thread`, checked against the lexicon. */
function recordOf(thread: ThreadRow): Record<string, unknown> {
  const record: AtThreadRecord = {
    $type: THREAD_NSID,
    title: thread.title,
    createdAt: new Date(thread.createdAt).toISOString(),
    ...(thread.remotes.length ? { members: thread.remotes } : {}),
  };
  const check = checkRecord(thread.id, record, THREAD_NSID);
  if (!check.ok) throw new Error(check.reason);
  return record as unknown as Record<string, unknown>;
}
