/**
 * Turns one `#commit` event into a commit-log row, accepted records and an advanced cursor,
 * stored in one transaction (IngestStore.recordCommit). The commit is verified first: its
 * signature against the author's DID document and every operation against the commit's
 * Merkle proofs (@atproto/sync's parseCommitAuthenticated, which also retries once with a
 * fresh key after a rotation). An unverifiable commit is logged `rejected` and applied nowhere.
 */
import type { IdResolver } from '@atproto/identity';
import { parseCommitAuthenticated } from '@atproto/sync';
import type { Logger } from '../../ops/logger.ts';
import type { Store } from '../../store/store.ts';
import type { CommitOperation, CommitWrite, IngestStore, RecordChange } from './ingest-store.ts';
import { type OpVerdict, checkOperation, commitStatus } from './record-check.ts';

/** Collections this relay ingests; everything else on the firehose is skipped unlogged. */
export const INGEST_PREFIX = 'dev.skein.chat.';

interface RawOp {
  action: string;
  path: string;
  cid: { toString(): string } | null;
}

export interface CommitEvent {
  seq: number;
  repo: string;
  commit: { toString(): string };
  rev: string;
  since: string | null;
  tooBig?: boolean;
  ops: RawOp[];
  time: string;
  blocks: Uint8Array;
}

export interface ProcessResult {
  /** `skipped`: nothing of ours in it (no log row). */
  status: CommitWrite['entry']['status'] | 'skipped';
  accepted: number;
  rejected: number;
  duplicates: number;
}

export interface CommitProcessorDeps {
  store: Store;
  ingest: IngestStore;
  idResolver: IdResolver;
  ownDid: () => string | null;
  maxTextLength: number;
  log: Logger;
}

const splitPath = (path: string) => {
  const i = path.indexOf('/');
  return i < 0 ? { collection: path, rkey: '' } : { collection: path.slice(0, i), rkey: path.slice(i + 1) };
};

/** True when the commit touches a collection we ingest. */
export function isOurs(evt: CommitEvent): boolean {
  return evt.ops.some((op) => op.path.startsWith(INGEST_PREFIX));
}

export class CommitProcessor {
  constructor(private readonly d: CommitProcessorDeps) {}

  /** Processes one commit of `sourceId`; `cursor` is the source cursor once it is stored. */
  async process(sourceId: string, evt: CommitEvent, cursor: string, now: number): Promise<ProcessResult> {
    const ops = evt.ops.filter((op) => op.path.startsWith(INGEST_PREFIX));
    const operations: CommitOperation[] = ops.map((op) => ({
      action: op.action as CommitOperation['action'],
      ...splitPath(op.path),
      cid: op.cid ? op.cid.toString() : null,
    }));
    const entry = {
      sourceId,
      did: evt.repo,
      seq: evt.seq,
      commitCid: evt.commit.toString(),
      rev: evt.rev,
      since: evt.since ?? null,
      operations,
      receivedAt: now,
    };
    const write = (status: CommitWrite['entry']['status'], reason: string | null, records: CommitWrite['records'] = [], changes: RecordChange[] = []) =>
      this.d.ingest.recordCommit({ entry: { ...entry, status, reason }, records, changes, cursor, now });

    const repo = await this.d.ingest.getSyncState(sourceId, evt.repo);
    if (repo?.lastSeq != null && evt.seq <= repo.lastSeq) {
      const status = evt.seq < repo.lastSeq ? 'out_of_order' : 'duplicate';
      await write(status, evt.seq < repo.lastSeq ? 'seq_below_last_seq' : 'seq_already_seen');
      return { status, accepted: 0, rejected: 0, duplicates: status === 'duplicate' ? 1 : 0 };
    }
    if (evt.tooBig) {
      await write('rejected', 'too_big');
      return { status: 'rejected', accepted: 0, rejected: ops.length, duplicates: 0 };
    }
    let verified: Awaited<ReturnType<typeof parseCommitAuthenticated>>;
    try {
      verified = await parseCommitAuthenticated(this.d.idResolver, evt as never, (c) => c.startsWith(INGEST_PREFIX));
    } catch (err) {
      const name = err instanceof Error ? err.name || 'Error' : 'Error';
      this.d.log.warn({ event: 'ingest_commit_unverifiable', sourceId, did: evt.repo, seq: evt.seq, err: name }, 'commit failed verification');
      await write('rejected', `unverifiable: ${name}`.slice(0, 120));
      return { status: 'rejected', accepted: 0, rejected: ops.length, duplicates: 0 };
    }

    const byPath = new Map(verified.map((v) => [`${v.collection}/${v.rkey}`, v]));
    const ownDid = this.d.ownDid();
    const verdicts: OpVerdict[] = [];
    const records: CommitWrite['records'] = [];
    const changes: RecordChange[] = [];
    const inCommit = new Set<string>();
    for (const op of operations) {
      const v = byPath.get(`${op.collection}/${op.rkey}`);
      let verdict: OpVerdict;
      // Only what the verification returned is trusted (the same path as another action is not).
      if (!v || v.event !== op.action) verdict = { status: 'rejected', reason: 'unverified_operation' };
      else {
        verdict = await checkOperation(
          { action: v.event, did: evt.repo, collection: op.collection, rkey: op.rkey, record: 'record' in v ? v.record : undefined },
          {
            maxTextLength: this.d.maxTextLength,
            ownDid,
            getThread: (id) => this.d.store.getThread(id),
            getThreadByAtUri: (uri) => this.d.store.getThreadByAtUri(uri),
            hasMessage: async (t, m) => (await this.d.store.getMessage(t, m)) !== null,
            wasIngested: async (did, c, r) => inCommit.has(`${c}/${r}`) || (await this.d.ingest.getRecord(did, c, r)) !== null,
            ingested: (did, c, r) => this.d.ingest.getRecord(did, c, r),
          },
        );
      }
      verdicts.push(verdict);
      op.status = verdict.status;
      if (verdict.status !== 'applied') op.reason = verdict.reason;
      if (verdict.status === 'applied' && verdict.kind === 'create' && v && 'record' in v) {
        inCommit.add(`${op.collection}/${op.rkey}`);
        records.push({
          uri: v.uri.toString(),
          cid: v.cid.toString(),
          did: evt.repo,
          collection: op.collection,
          rkey: op.rkey,
          value: JSON.parse(JSON.stringify(v.record)) as Record<string, unknown>,
          sourceId,
          threadId: verdict.threadId,
          messageId: verdict.message.id,
          ingestedAt: now,
        });
      } else if (verdict.status === 'applied' && verdict.kind !== 'create' && v) {
        changes.push({
          did: evt.repo,
          collection: op.collection,
          rkey: op.rkey,
          rev: evt.rev,
          action: verdict.kind,
          authorId: verdict.authorId,
          value: 'record' in v ? (JSON.parse(JSON.stringify(v.record)) as Record<string, unknown>) : null,
          threadId: verdict.threadId,
          messageId: verdict.messageId,
          ingestedAt: now,
        });
      }
      if (verdict.status === 'duplicate') {
        // Telemetry name shared with the SDK's reconciliation (DESIGN.md); no content.
        this.d.log.info(
          { event: 'message_reconcile_duplicate_suppressed', sourceId, did: evt.repo, rkey: op.rkey, reason: verdict.reason },
          'ingested record suppressed as a duplicate',
        );
      } else if (verdict.status === 'rejected') {
        this.d.log.info({ event: 'ingest_record_rejected', sourceId, did: evt.repo, rkey: op.rkey.slice(0, 80), reason: verdict.reason }, 'ingested record rejected');
      }
    }
    const { status, reason } = commitStatus(verdicts);
    await write(status, reason, records, changes);
    return {
      status,
      accepted: records.length + changes.length,
      rejected: verdicts.filter((v) => v.status === 'rejected' || v.status === 'out_of_order').length,
      duplicates: verdicts.filter((v) => v.status === 'duplicate').length,
    };
  }
}
