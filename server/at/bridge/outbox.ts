/**
 * The AT write bridge worker: drains the transactional outbox into the relay's repo.
 *
 * Rows are claimed in batches, checked against the lexicon, packed into applyWrites calls
 * (≤ batchMaxWrites writes, ≤ batchMaxBytes body, never more than the announced rate
 * budget), and on success the store and then the loaded document's canon are updated.
 * Record key = message id, so a replay can never create a second record; because a
 * colliding create answers HTTP 500 on current PDS versions, a 500 means "unknown
 * outcome": the bridge looks up which records exist and sends only the missing ones.
 *
 * This module is the drain loop, the claims it holds and the handling of each call's
 * outcome; record building and packing (records.ts), the rate budget (budget.ts), thread
 * records (threads.ts) and the reported health (health.ts) are modules of their own.
 */
import { BridgeErrorCode } from '../../../shared/errors.ts';
import { MESSAGE_NSID, toAtRecord } from '../../../shared/at-lexicon.ts';
import { type AtCallError, type AtRepoClient, asCallError, detailOf } from '../at-client.ts';
import type { AtprotoConfig } from '../../config/config.ts';
import type { DocRegistry } from '../../room/doc-registry.ts';
import type { Logger } from '../../ops/logger.ts';
import type { FailureClass, RelayMetrics } from '../../ops/metrics.ts';
import type { ConfirmedWrite, MessageKey, OutboxItem, PermanentFailure, Store, StoredMessage } from '../../store/store.ts';
import { RESET_MARGIN_MS, WriteBudget } from './budget.ts';
import { BridgeHealth, type BridgeStatus } from './health.ts';
import { type Write, buildWrites, messageKey as key, packWrites } from './records.ts';
import { ThreadRecords } from './threads.ts';

export type { BridgeStatus };

type SendOutcome = { halt: false } | { halt: true; until: number };

export interface BridgeOutboxDeps {
  store: Store;
  registry: DocRegistry;
  client: AtRepoClient;
  log: Logger;
  metrics: RelayMetrics;
  opts: AtprotoConfig;
  /** Called with messages whose mirror settled (`confirmed` or `failed`). */
  onSettled?: (messages: StoredMessage[]) => void;
}

export class BridgeOutbox {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private woken = false;
  private readonly budget: WriteBudget;
  private readonly health: BridgeHealth;
  private nextDue = Infinity;
  private timers: NodeJS.Timeout[] = [];
  /** Rows this bridge claimed and has not settled yet (released on stop). */
  private inFlight: MessageKey[] = [];
  readonly threads: ThreadRecords;

  constructor(private readonly d: BridgeOutboxDeps) {
    this.budget = new WriteBudget(d.opts.writeCost);
    this.health = new BridgeHealth(d);
    this.threads = new ThreadRecords(d);
    d.metrics.bridgeGauges = () => {
      const s = this.status();
      return { depth: s.queueDepth, oldestPendingAgeMs: s.oldestPendingAgeMs, writesPerSecond: this.health.writesPerSecond() };
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const refresh = () => void this.health.refreshStats();
    refresh();
    this.timers.push(setInterval(refresh, 1000));
    this.timers.push(setInterval(() => void this.d.store.pruneDiagnostics(Date.now()).catch(() => {}), 60_000));
    for (const t of this.timers) t.unref();
    this.loop = this.run();
  }

  /**
   * Stops after the round in progress, waiting at most `graceMs` for it; rows still claimed
   * then are released for the next relay at once (a write that reached the PDS meanwhile is
   * not duplicated by the replay: the record key is the message id).
   */
  /**
   * Deletes message records of this relay's repo (erasure on request). Returns the URIs
   * deleted; a record of another repo is not ours to delete and is left out.
   */
  async deleteMessageRecords(uris: string[]): Promise<string[]> {
    const { client } = this.d;
    if (!client.loggedIn) await client.login();
    const done: string[] = [];
    for (const uri of uris) {
      const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
      if (!m || m[1] !== client.did || m[2] !== MESSAGE_NSID) continue;
      await client.deleteRecord(m[2], m[3]!);
      done.push(uri);
    }
    return done;
  }

  async stop(graceMs = 5000): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.notify();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    const held = this.inFlight;
    this.inFlight = [];
    if (held.length) {
      await this.d.store.deferOutbox(held, Date.now(), false).catch(() => {});
      this.d.log.info({ event: 'bridge_claims_released', count: held.length }, 'outbox claims released on shutdown');
    }
  }

  /** New outbox rows exist (a commit, a retry): look now instead of at the next poll. */
  notify(): void {
    this.woken = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  status(): BridgeStatus {
    return this.health.status();
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || !this.running) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, Math.max(1, ms));
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    }).then(() => {
      this.woken = false;
    });
  }

  private backoff(attempt: number): number {
    const { backoffBaseMs, backoffMaxMs } = this.d.opts;
    const capped = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(capped / 2 + (Math.random() * capped) / 2);
  }

  private async run(): Promise<void> {
    while (this.running) {
      let wait: number;
      try {
        wait = await this.step();
      } catch (err) {
        this.d.log.error({ event: 'bridge_error', err: String(err) }, 'bridge step failed');
        wait = this.backoff(this.health.failures + 1);
      }
      if (wait > 0 && this.running) await this.sleep(wait);
    }
  }

  /** One round; returns how long to wait before the next (0 = at once). */
  private async step(): Promise<number> {
    const { client, opts, store, log } = this.d;
    if (!client.loggedIn) {
      try {
        await client.login().finally(() => (this.health.loginSettled = true));
        this.health.noteSuccess();
        // `pdsUrl`, not `service`: pino's base field `service` already names the relay.
        log.info({ event: 'bridge_logged_in', did: client.did, pdsUrl: client.service }, 'AT write bridge logged in');
        await this.threads.afterLogin();
      } catch (err) {
        const e = asCallError(err);
        this.health.noteFailure(e.status === 0 ? 'network' : e.status === 401 ? 'auth' : 'server');
        log.warn({ event: 'bridge_login_failed', status: e.status, error: e.errorName }, 'AT login failed');
        return this.backoff(this.health.failures);
      }
    }
    const now = Date.now();
    const allowed = this.budget.allowance(now, opts.batchMaxWrites, opts.backoffMaxMs);
    if ('waitMs' in allowed) return allowed.waitMs; // wait for the reset
    const limit = allowed.writes;
    if (await this.deleteRecords(limit)) return 0;
    if (await this.rewriteRecords(limit)) return 0;
    const items = await store.claimOutbox(limit, now, opts.claimLeaseMs);
    if (items.length === 0) {
      const due = this.nextDue - now;
      return Math.max(1, Math.min(1000, due));
    }
    this.nextDue = Infinity;
    this.inFlight = items.map((i) => key(i.message));
    await this.process(items);
    this.inFlight = [];
    void this.health.refreshStats();
    return 0;
  }

  /**
   * Deletes the AT records of deleted messages (docs/design/message-lifecycle.md): one
   * deleteRecord each (the record key is the message id), then the row forgets its URI.
   * Returns true when it did any work (the next round comes at once).
   */
  private async deleteRecords(limit: number): Promise<boolean> {
    const { client, store, log } = this.d;
    const keys = await store.listAtDeletions(limit);
    if (keys.length === 0) return false;
    const done: MessageKey[] = [];
    try {
      for (const k of keys) {
        // An ingested message's record is in its author's repo, not ours: the row just forgets it.
        if (k.atUri.startsWith(`at://${client.did}/`)) await client.deleteRecord(MESSAGE_NSID, k.messageId);
        done.push({ threadId: k.threadId, messageId: k.messageId });
      }
    } catch (err) {
      const e = asCallError(err);
      this.health.noteFailure(e.status === 0 ? 'network' : e.status === 401 ? 'auth' : 'server');
      log.warn({ event: 'bridge_delete_failed', status: e.status, error: e.errorName }, 'deleting an AT record failed');
      if (done.length) await store.clearAtUri(done);
      throw err;
    }
    await store.clearAtUri(done);
    this.health.noteSuccess();
    log.info({ event: 'bridge_records_deleted', count: done.length }, 'AT records of deleted messages deleted');
    return true;
  }

  /**
   * Rewrites the AT records of edited messages (putRecord, same key) with the current text
   * and `editedAt`. Returns true when it did any work.
   */
  private async rewriteRecords(limit: number): Promise<boolean> {
    const { client, store, log } = this.d;
    const edited = await store.listAtEdits(limit);
    if (edited.length === 0) return false;
    for (const m of edited) {
      if (!m.atUri?.startsWith(`at://${client.did}/`)) {
        await store.markAtEdited(key(m), m.editedAt!, m.atCid ?? '');
        continue;
      }
      try {
        const put = await client.putRecord(MESSAGE_NSID, m.id, { ...toAtRecord(m.threadId, m, await this.threads.uriFor(m.threadId)) });
        await store.markAtEdited(key(m), m.editedAt!, put.cid);
      } catch (err) {
        const e = asCallError(err);
        this.health.noteFailure(e.status === 0 ? 'network' : e.status === 401 ? 'auth' : 'server');
        log.warn({ event: 'bridge_edit_failed', status: e.status, error: e.errorName }, 'rewriting an AT record failed');
        throw err;
      }
    }
    this.health.noteSuccess();
    log.info({ event: 'bridge_records_rewritten', count: edited.length }, 'AT records of edited messages rewritten');
    return true;
  }

  private async process(items: OutboxItem[]): Promise<void> {
    const uris = new Map<string, string | null>();
    for (const t of new Set(items.map((i) => i.message.threadId))) uris.set(t, await this.threads.uriFor(t));
    const { writes, invalid } = buildWrites(items, uris);
    if (invalid.length) await this.fail(invalid, 'invalid');
    const chunks = packWrites(writes, this.d.opts.batchMaxBytes);

    for (let i = 0; i < chunks.length; i++) {
      const out = await this.send(chunks[i]!, false);
      if (out.halt) {
        const rest = chunks.slice(i + 1).flat();
        if (rest.length) await this.defer(rest, out.until, false);
        return;
      }
    }
    for (const t of uris.keys()) await this.threads.ensureRecord(t);
  }

  private async send(chunk: Write[], afterUnknown: boolean): Promise<SendOutcome> {
    const { client, opts, log } = this.d;
    if (chunk.length === 0) return { halt: false };
    const started = performance.now();
    let results: Array<{ uri: string; cid: string }>;
    try {
      const res = await client.createRecords(
        MESSAGE_NSID,
        chunk.map((w) => ({ rkey: w.item.message.id, record: w.record as unknown as Record<string, unknown> })),
      );
      results = res.results;
      this.budget.note(res.rateLimit, true);
    } catch (err) {
      const e = asCallError(err);
      this.budget.note(e.rateLimit, false);
      const now = Date.now();
      if (e.status === 429) {
        this.health.noteFailure('rate_limited');
        const until = e.rateLimit ? e.rateLimit.resetAt + RESET_MARGIN_MS : now + this.backoff(this.health.failures);
        this.budget.exhausted(e.rateLimit?.limit ?? null, e.rateLimit?.resetAt ?? until);
        log.warn({ event: 'bridge_rate_limited', resetAt: until, writes: chunk.length }, 'PDS rate limit: waiting for reset');
        await this.defer(chunk, until, false);
        return { halt: true, until };
      }
      if ((e.status === 413 || e.status === 400) && chunk.length > 1) {
        // Split to find the write that is too large or invalid; the others go through.
        const mid = Math.ceil(chunk.length / 2);
        const a = await this.send(chunk.slice(0, mid), afterUnknown);
        if (a.halt) {
          await this.defer(chunk.slice(mid), a.until, false);
          return a;
        }
        return this.send(chunk.slice(mid), afterUnknown);
      }
      if (e.status === 413) {
        await this.fail([{ ...key(chunk[0]!.item.message), code: BridgeErrorCode.AT_PAYLOAD_TOO_LARGE, detail: detailOf(e) }], 'too_large');
        return { halt: false };
      }
      if (e.status === 400) {
        await this.fail([{ ...key(chunk[0]!.item.message), code: BridgeErrorCode.AT_BAD_REQUEST, detail: detailOf(e) }], 'invalid');
        return { halt: false };
      }
      if (e.status === 401) return this.unauthorized(chunk, e);
      if (e.status === 500 && !afterUnknown) {
        // Unknown outcome (a colliding create answers 500): keep what exists, resend the rest once.
        log.warn({ event: 'bridge_unknown_outcome', writes: chunk.length }, 'PDS answered 500: checking which records exist');
        let missing: Write[];
        try {
          missing = await this.reconcile(chunk);
        } catch (err2) {
          return this.transient(chunk, asCallError(err2));
        }
        return this.send(missing, true);
      }
      if (e.status === 0 || e.status >= 500 || e.status === 408) return this.transient(chunk, e);
      await this.fail(
        chunk.map((w) => ({ ...key(w.item.message), code: BridgeErrorCode.AT_REJECTED, detail: detailOf(e) })),
        'rejected',
      );
      return { halt: false };
    }
    if (opts.testCrashAfterAtWrite) {
      // Test hook (SKEIN_TEST_CRASH_AFTER_AT_WRITE=1 only): die between the PDS write and the canon update.
      log.warn({ event: 'test_crash_after_at_write', writes: chunk.length }, 'test hook: SIGKILL after AT write');
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => {});
    }
    log.debug({ event: 'bridge_batch', writes: chunk.length, ms: Math.round(performance.now() - started) }, 'applyWrites ok');
    this.health.noteSuccess();
    // A store failure here propagates to run(): the rows stay claimed, and the replay after
    // the lease finds the records already there (500 → reconcile).
    await this.complete(chunk.map((w, i) => ({ ...key(w.item.message), atUri: results[i]!.uri, atCid: results[i]!.cid })));
    return { halt: false };
  }

  /** Confirms the writes whose records already exist; returns those still missing. */
  private async reconcile(chunk: Write[]): Promise<Write[]> {
    const found: ConfirmedWrite[] = [];
    const missing: Write[] = [];
    for (const w of chunk) {
      const r = await this.d.client.getRecord(MESSAGE_NSID, w.item.message.id);
      if (r) found.push({ ...key(w.item.message), atUri: r.uri, atCid: r.cid });
      else missing.push(w);
    }
    if (found.length) {
      this.d.log.info({ event: 'bridge_reconciled', existing: found.length, missing: missing.length }, 'records already in the repo confirmed');
      await this.complete(found, false);
    }
    return missing;
  }

  private async transient(chunk: Write[], e: AtCallError): Promise<SendOutcome> {
    this.health.noteFailure(e.status === 0 ? 'network' : 'server');
    const attempt = Math.max(...chunk.map((w) => w.item.attempts)) + 1;
    const until = Date.now() + this.backoff(attempt);
    this.d.log.warn(
      { event: 'bridge_transient_failure', status: e.status, error: e.errorName, attempt, retryInMs: until - Date.now() },
      'AT write failed; will retry',
    );
    await this.defer(chunk, until, true);
    return { halt: true, until };
  }

  /**
   * The PDS refused the relay's credentials although the client had just logged in again (a
   * revoked app password, a changed password, a deactivated account): nothing of `chunk` was
   * written. That is the relay's problem, not the messages', so they are not failed: they
   * wait in the outbox (the rest of the round too) while the bridge is degraded with
   * `not_logged_in` (the client is logged out) and the loop keeps trying to log in with
   * backoff; once a login works they go out like any late write. The attempt count backs
   * the rows off as well, so a PDS that lets the relay log in but refuses its writes is not
   * hammered with logins.
   */
  private async unauthorized(chunk: Write[], e: AtCallError): Promise<SendOutcome> {
    this.health.noteFailure('auth');
    const attempt = Math.max(...chunk.map((w) => w.item.attempts)) + 1;
    const until = Date.now() + this.backoff(attempt);
    this.d.log.warn(
      { event: 'bridge_auth_failed', status: e.status, error: e.errorName, writes: chunk.length, attempt, retryInMs: until - Date.now() },
      'AT credentials refused: writes wait for a login',
    );
    await this.defer(chunk, until, true);
    return { halt: true, until };
  }

  private async defer(writes: Write[], until: number, countAttempt: boolean): Promise<void> {
    this.nextDue = Math.min(this.nextDue, until);
    await this.d.store.deferOutbox(writes.map((w) => key(w.item.message)), until, countAttempt);
  }

  private async complete(writes: ConfirmedWrite[], countWrites = true): Promise<void> {
    const msgs = await this.d.store.completeOutbox(writes);
    if (countWrites) this.health.noteWrites(writes.length);
    if (msgs.length) this.d.onSettled?.(msgs);
    await this.publish(msgs);
  }

  private async fail(failures: PermanentFailure[], cls: FailureClass): Promise<void> {
    const { store, opts, log, metrics } = this.d;
    const msgs = await store.failOutbox(failures, cls, Date.now(), opts.diagnosticsTtlMs);
    metrics.bridgeFailures.inc({ class: cls }, failures.length);
    for (const f of failures) {
      log.warn({ event: 'bridge_write_failed', threadId: f.threadId, messageId: f.messageId, code: f.code }, 'AT mirror failed permanently');
    }
    if (msgs.length) this.d.onSettled?.(msgs);
    await this.publish(msgs);
  }

  /** Writes canon for loaded documents; an unloaded one is repaired from the store on load. */
  private async publish(msgs: StoredMessage[]): Promise<void> {
    const byThread = new Map<string, StoredMessage[]>();
    for (const m of msgs) {
      const list = byThread.get(m.threadId);
      if (list) list.push(m);
      else byThread.set(m.threadId, [m]);
    }
    for (const [threadId, list] of byThread) {
      const room = await this.d.registry.peek(threadId)?.catch(() => undefined);
      room?.publishCanon(list);
      this.d.registry.announce(threadId);
    }
  }
}
