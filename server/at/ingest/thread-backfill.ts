/**
 * Brings a thread's existing messages in from its member repos: what was written before this
 * relay followed the thread (or before a remote member was added) never comes by on the
 * firehose again, and the records it saw then were rejected (`unknown_thread`,
 * `not_a_remote_member`) into the commit log only. So on follow and on adding a remote the
 * relay lists each member repo's `dev.skein.chat.message` records
 * (`com.atproto.repo.listRecords` on the repo's PDS, found through its DID document), checks
 * each with the firehose's rules (record-check.ts: validity, thread, membership of the DID)
 * and stores the accepted ones as ingested records; the applier appends them, by message id,
 * so a record that also arrives on the firehose lands once.
 */
import { MESSAGE_NSID, THREAD_NSID, type AtMessageRecord, type AtThreadRecord, isDid, parseThreadAtUri } from '../../../shared/at-lexicon.ts';
import type { Logger } from '../../ops/logger.ts';
import type { Store, ThreadRow } from '../../store/store.ts';
import type { IngestApplier } from './ingest-applier.ts';
import type { IngestedRecord } from './ingest-store.ts';
import { checkOperation } from './record-check.ts';

/** `sourceId` of records read from a repo rather than received on a source's firehose. */
export const BACKFILL_SOURCE = 'backfill';
const PAGE = 100;
/** Records listed per repo at most: a repo holds every thread's messages of its relay. */
const MAX_RECORDS_PER_REPO = 20_000;

export interface ThreadBackfillDeps {
  store: Store;
  /**
   * Finds a DID's PDS (an @atproto/identity IdResolver fits). Narrow on purpose: the public
   * .d.ts files must not pull @atproto's types into a consumer's type check.
   */
  idResolver: { did: { resolveAtprotoData(did: string): Promise<{ pds: string }> } };
  ownDid: () => string | null;
  maxTextLength: number;
  applier: IngestApplier;
  log: Logger;
}

export interface BackfillResult {
  listed: number;
  accepted: number;
  rejected: number;
  duplicates: number;
}

interface Listed {
  uri: string;
  cid: string;
  value: Record<string, unknown>;
}

type Agent = { com: { atproto: { repo: {
  listRecords(p: { repo: string; collection: string; limit: number; cursor?: string; reverse?: boolean }): Promise<{ data: { records: Listed[]; cursor?: string } }>;
  getRecord(p: { repo: string; collection: string; rkey: string }): Promise<{ data: { value: unknown } }>;
} } } };

export class ThreadBackfill {
  constructor(private readonly d: ThreadBackfillDeps) {}

  /** An agent for the PDS that hosts `did` (from its DID document). */
  private async agentFor(did: string): Promise<Agent> {
    const { pds } = await this.d.idResolver.did.resolveAtprotoData(did);
    // Imported here: @atproto/api takes seconds to load and most relays never backfill.
    const { AtpAgent } = await import('@atproto/api');
    return new AtpAgent({ service: pds }) as unknown as Agent;
  }

  /** The thread record at `uri` (title, remote members), or null when it cannot be read. */
  async threadRecord(uri: string): Promise<{ title: string | null; members: string[] } | null> {
    const parsed = parseThreadAtUri(uri);
    if (!parsed) return null;
    try {
      const agent = await this.agentFor(parsed.did);
      const got = await agent.com.atproto.repo.getRecord({ repo: parsed.did, collection: THREAD_NSID, rkey: parsed.rkey });
      const value = got.data.value as Partial<AtThreadRecord>;
      // Someone else's record: take only what has the expected shape.
      const members = Array.isArray(value.members) ? value.members.filter((m): m is string => typeof m === 'string' && isDid(m)).slice(0, 256) : [];
      return { title: typeof value.title === 'string' ? value.title : null, members };
    } catch (err) {
      this.d.log.warn({ event: 'ingest_thread_record_unreadable', uri, err: err instanceof Error ? err.name : 'Error' }, 'thread record could not be read');
      return null;
    }
  }

  /** Backfills `threadId` from the repos of `dids` (default: all its remote members). */
  async run(threadId: string, dids?: string[]): Promise<BackfillResult> {
    const total: BackfillResult = { listed: 0, accepted: 0, rejected: 0, duplicates: 0 };
    const thread = await this.d.store.getThread(threadId);
    if (!thread) return total;
    const accepted: Array<Omit<IngestedRecord, 'appliedAt'>> = [];
    for (const did of dids ?? thread.remotes) {
      try {
        const r = await this.fromRepo(thread, did, accepted);
        for (const k of Object.keys(total) as Array<keyof BackfillResult>) total[k] += r[k];
      } catch (err) {
        // The firehose still brings what is written from now on; removing and adding the member again retries.
        this.d.log.warn({ event: 'ingest_backfill_failed', threadId, did, err: err instanceof Error ? err.name : 'Error' }, 'backfill from a member repo failed');
      }
    }
    // Pending records are applied in insertion order (within one ingestedAt): all repos'
    // records go in together, in the order they were sent, so the thread gets them in that order.
    // Two records of one repo with the same sentAt (sequenced in one commit) keep their origin
    // seq's order: message ids (rkeys) made in one millisecond are not in send order.
    accepted.sort((a, b) => sentAt(a) - sentAt(b) || (a.did === b.did ? originSeq(a) - originSeq(b) : 0) || (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0));
    const now = Date.now();
    for (const r of accepted) r.ingestedAt = now;
    const stored = accepted.length ? await this.d.store.ingest.storeRecords(accepted) : 0;
    // Stored meanwhile by the firehose: first writer wins.
    total.duplicates += accepted.length - stored;
    total.accepted = stored;
    this.d.log.info({ event: 'ingest_backfill_done', threadId, repos: (dids ?? thread.remotes).length, ...total }, 'thread backfilled from member repos');
    if (stored > 0) await this.d.applier.notify();
    return total;
  }

  /** Lists one member repo; accepted records are added to `accepted`. */
  private async fromRepo(thread: ThreadRow, did: string, accepted: Array<Omit<IngestedRecord, 'appliedAt'>>): Promise<BackfillResult> {
    const result: BackfillResult = { listed: 0, accepted: 0, rejected: 0, duplicates: 0 };
    const agent = await this.agentFor(did);
    const ownDid = this.d.ownDid();
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection: MESSAGE_NSID, limit: PAGE, cursor });
      cursor = page.data.records.length === PAGE ? page.data.cursor : undefined;
      for (const rec of page.data.records) {
        result.listed++;
        // The PDS answers for the repo we asked about; anything else in its answer is not ours to take.
        const prefix = `at://${did}/${MESSAGE_NSID}/`;
        if (typeof rec?.uri !== 'string' || !rec.uri.startsWith(prefix) || typeof rec.value !== 'object' || rec.value === null) {
          result.rejected++;
          continue;
        }
        const rkey = rec.uri.slice(prefix.length);
        const value = rec.value as Partial<AtMessageRecord>;
        // Other threads' records of this repo are none of this thread's business.
        if (value.threadUri ? value.threadUri !== thread.atUri : value.thread !== thread.id) continue;
        const verdict = await checkOperation(
          { action: 'create', did, collection: MESSAGE_NSID, rkey, record: rec.value },
          {
            maxTextLength: this.d.maxTextLength,
            ownDid,
            getThread: (id) => this.d.store.getThread(id),
            getThreadByAtUri: (uri) => this.d.store.getThreadByAtUri(uri),
            hasMessage: async (t, m) => (await this.d.store.getMessage(t, m)) !== null,
            wasIngested: async (d, c, r) => seen.has(r) || (await this.d.store.ingest.getRecord(d, c, r)) !== null,
            // A backfill reads records as they are now (an edited one with its current text): creates only.
            ingested: async () => null,
          },
        );
        if (verdict.status === 'applied' && verdict.kind === 'create' && verdict.threadId === thread.id) {
          seen.add(rkey);
          result.accepted++;
          accepted.push({
            uri: rec.uri,
            cid: rec.cid,
            did,
            collection: MESSAGE_NSID,
            rkey,
            value: JSON.parse(JSON.stringify(rec.value)) as Record<string, unknown>,
            sourceId: BACKFILL_SOURCE,
            threadId: thread.id,
            messageId: verdict.message.id,
            ingestedAt: 0,
          });
        } else if (verdict.status === 'duplicate') result.duplicates++;
        else {
          result.rejected++;
          const reason = verdict.status === 'applied' ? 'other_thread' : verdict.reason;
          this.d.log.info({ event: 'ingest_record_rejected', sourceId: BACKFILL_SOURCE, did, rkey: rkey.slice(0, 80), reason }, 'backfilled record rejected');
        }
      }
    } while (cursor && result.listed < MAX_RECORDS_PER_REPO);
    if (cursor) this.d.log.warn({ event: 'ingest_backfill_truncated', threadId: thread.id, did, listed: result.listed }, 'backfill stopped at the per-repo bound');
    return result;
  }
}

function originSeq(r: { value: Record<string, unknown> }): number {
  const n = Number(r.value.seq);
  return Number.isFinite(n) ? n : 0;
}

function sentAt(r: { value: Record<string, unknown> }): number {
  const t = Date.parse(String(r.value.sentAt));
  return Number.isFinite(t) ? t : 0;
}
