/** `/v1/threads`: create, list, get, archive, and message history. */
import { Hono } from 'hono';
import { ulid } from 'ulid';
import { ErrorCode } from '../../../shared/errors.ts';
import { isDid, parseThreadAtUri, threadAtUri } from '../../../shared/at-lexicon.ts';
import { ID_PATTERN, MAX_ID_LENGTH, isLocalUserId } from '../../../shared/schema.ts';
import { GENERATION_SEPARATOR } from '../../../shared/generation.ts';
import { canModerate } from '../../../shared/roles.ts';
import type { AppEnv, RelayContext } from '../../context.ts';
import { HttpError, badRequest, notFound } from '../http-error.ts';
import type { StoredMessage, ThreadRow } from '../../store/store.ts';

const MAX_PARTICIPANTS = 1000;
/** `did:plc` and `did:web`, the methods AT supports. */
const MAX_TITLE = 200;
const MAX_PAGE = 1000;

/**
 * Public shape of a message in the history API. A rejected message was taken out of the
 * thread, so only its author gets its text back (to resend it); others see the seq only.
 */
function messageJson(m: StoredMessage, viewer: string) {
  const { threadId: _t, ...rest } = m;
  if (m.state === 'rejected' && m.authorId !== viewer) rest.text = '';
  return rest;
}

/** A thread the caller may see: 404 when unknown, 403 when not a participant. */
async function memberThread(ctx: RelayContext, threadId: string, userId: string): Promise<ThreadRow> {
  const t = await ctx.store.getThread(threadId);
  if (!t) throw notFound('no such thread');
  if (!(await ctx.isMember(t, userId))) throw new HttpError(403, ErrorCode.FORBIDDEN, 'not a participant of this thread');
  return t;
}

/** A thread the caller moderates (owner or moderator, shared/roles.ts): remote members are membership too. */
async function moderatedThread(ctx: RelayContext, threadId: string, userId: string): Promise<ThreadRow> {
  const t = await memberThread(ctx, threadId, userId);
  if (!canModerate(t, userId)) throw new HttpError(403, ErrorCode.FORBIDDEN, 'only the owner or a moderator changes the members');
  return t;
}

/**
 * Archiving an archived thread answers 409 THREAD_ARCHIVED. (Messages are never sent over
 * HTTP: one sent to an archived thread over sync is sequenced, then marked rejected in canon;
 * reopening and mirror retries work on archived threads too.)
 */
function assertWritable(t: ThreadRow): void {
  if (t.archived) throw new HttpError(409, ErrorCode.THREAD_ARCHIVED, 'thread is archived');
}

function parseCreate(body: unknown, userId: string) {
  if (typeof body !== 'object' || body === null) throw badRequest('body must be a JSON object');
  const b = body as Record<string, unknown>;
  const title = b.title ?? '';
  if (typeof title !== 'string' || title.length > MAX_TITLE) throw badRequest(`title must be a string of at most ${MAX_TITLE} characters`);
  const participants = b.participants ?? [];
  if (!Array.isArray(participants) || participants.length > MAX_PARTICIPANTS) {
    throw badRequest(`participants must be an array of at most ${MAX_PARTICIPANTS} user ids`);
  }
  for (const p of participants) {
    if (typeof p !== 'string' || !isLocalUserId(p)) throw badRequest('participants must be valid user ids');
  }
  if (b.mirror !== undefined && typeof b.mirror !== 'boolean') throw badRequest('mirror must be a boolean');
  let follow: { uri: string; did: string } | null = null;
  if (b.follow !== undefined) {
    const parsed = typeof b.follow === 'string' ? parseThreadAtUri(b.follow) : null;
    if (!parsed) throw badRequest('follow must be the at:// URI of a dev.skein.chat.thread record');
    if (b.mirror === false) throw badRequest('a followed thread mirrors: its messages reach the other relay through AT');
    follow = { uri: b.follow as string, did: parsed.did };
  }
  // A client may choose the id (a guest thread being uploaded keeps its id).
  if (b.id !== undefined && (typeof b.id !== 'string' || !ID_PATTERN.test(b.id) || b.id.includes(GENERATION_SEPARATOR))) {
    throw badRequest('id must be 1-64 characters of [0-9A-Za-z._:-]');
  }
  return { title, participants: [...new Set([userId, ...(participants as string[])])], mirror: b.mirror as boolean | undefined, follow, id: b.id as string | undefined };
}

function intParam(raw: string | undefined, name: string, def: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw badRequest(`${name} must be an integer from 0 to ${max}`);
  return n;
}

/**
 * Backfills a thread from member repos in the background: the request does not wait on
 * other PDSes; records land through the ingest applier like firehose ones.
 */
function backfill(ctx: RelayContext, threadId: string, dids: string[]): void {
  void ctx.ingest?.backfillThread(threadId, dids).catch((err) =>
    ctx.log.warn({ event: 'ingest_backfill_failed', threadId, err: err instanceof Error ? err.name : 'Error' }, 'backfill failed'),
  );
}

/** How long a follow waits for the embedded PDS to start before answering 503. */
const BRIDGE_WAIT_MS = 60_000;

/** Waits (bounded) for the background start of the embedded PDS and the bridge. */
async function waitForBridge(ctx: RelayContext): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), BRIDGE_WAIT_MS)));
  const got = await Promise.race([ctx.bridgeStarting, timeout]).finally(() => clearTimeout(timer));
  if (got === 'timeout') throw new HttpError(503, ErrorCode.MIRROR_UNAVAILABLE, 'the AT PDS is still starting; try again shortly');
}

export function threadRoutes(ctx: RelayContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/', async (c) => {
    const body = await c.req.json().catch(() => {
      throw badRequest('body must be JSON');
    });
    const input = parseCreate(body, c.get('userId'));
    // AT repos are public: mirroring is chosen here, once, and only where a bridge exists.
    // While the embedded PDS starts there is no bridge yet but there will be one: a mirrored
    // thread is created now (its URI, record and messages follow once the bridge is up);
    // a follow waits for it, as it needs the origin's thread record and our DID.
    if (input.follow && ctx.bridgeStarting) await waitForBridge(ctx);
    const starting = !ctx.bridge && !!ctx.bridgeStarting;
    if ((input.mirror || input.follow) && !ctx.bridge && !starting) {
      throw new HttpError(400, ErrorCode.MIRROR_UNAVAILABLE, 'this relay has no AT write bridge (SKEIN_ATPROTO_SERVICE=off, or its PDS failed to start)');
    }
    const bridge = ctx.bridge;
    const ownDid = bridge?.status().did ?? null;
    if (input.follow) {
      if (input.follow.did === ownDid) throw badRequest('follow names a thread of this relay');
      const existing = await ctx.store.getThreadByAtUri(input.follow.uri);
      if (existing) throw new HttpError(409, ErrorCode.CONFLICT, `this relay already follows that thread as ${existing.id}`);
    }
    const id = input.id ?? ulid();
    if (input.id && (await ctx.store.getThread(input.id))) throw new HttpError(409, ErrorCode.CONFLICT, 'a thread with this id exists');
    const mirror = !!input.follow || (input.mirror ?? ((bridge !== null || starting) && ctx.config.atproto.mirrorDefault));
    // A joined thread takes its creator's title (unless the joiner names it) and remote members.
    const record = input.follow ? await ctx.ingest?.threadRecord(input.follow.uri) : null;
    const title = input.follow && !input.title ? (record?.title ?? '') : input.title;
    const thread = await ctx.store.createThread({
      id,
      title,
      participants: input.participants,
      // The creator owns the thread (shared/roles.ts), on a followed thread too (roles are per relay).
      owner: c.get('userId'),
      mirror,
      createdAt: Date.now(),
      // A followed thread is the remote one's: same identity; otherwise ours once our DID is known.
      atUri: input.follow?.uri ?? (mirror && ownDid ? threadAtUri(ownDid, id) : null),
    });
    // The origin relay is the follow's first remote member: its records are the thread's; so
    // are those of the relays the origin let in (its thread record's members), but not ours.
    let created = thread;
    if (input.follow) {
      const others = (record?.members ?? []).filter((d) => d !== ownDid && d !== input.follow!.did);
      for (const did of [input.follow.did, ...others]) created = (await ctx.store.setRemote(id, did, true)) ?? created;
    }
    // Write the thread record now rather than with the first message (it retries with the messages).
    if (mirror && !input.follow && bridge) void bridge.threads.ensureRecord(id).catch(() => {});
    else if (mirror && !input.follow && starting) void ctx.bridgeStarting?.then((b) => b?.threads.ensureRecord(id)).catch(() => {});
    // What was said before the join is in the origin's repo, not on the firehose any more.
    if (input.follow) backfill(ctx, id, created.remotes);
    ctx.userEvents.publish(created.participants, { type: 'thread', threadId: created.id, change: 'created' });
    return c.json(created, 201);
  });

  app.get('/', async (c) => c.json({ threads: await ctx.store.listThreadsForUser(c.get('userId')) }));

  app.get('/:id', async (c) => c.json(await memberThread(ctx, c.req.param('id'), c.get('userId'))));

  app.post('/:id/archive', async (c) => {
    assertWritable(await memberThread(ctx, c.req.param('id'), c.get('userId')));
    const thread = (await ctx.store.archiveThread(c.req.param('id')))!;
    (await ctx.registry.peek(thread.id))?.syncMeta(thread);
    ctx.registry.announce(thread.id);
    ctx.userEvents.publish(thread.participants, { type: 'thread', threadId: thread.id, change: 'archived' });
    return c.json(thread);
  });

  /**
   * Reopens an archived thread (members only; idempotent). Messages already rejected stay
   * rejected: their authors send them again.
   */
  app.post('/:id/unarchive', async (c) => {
    await memberThread(ctx, c.req.param('id'), c.get('userId'));
    const thread = (await ctx.store.unarchiveThread(c.req.param('id')))!;
    (await ctx.registry.peek(thread.id))?.syncMeta(thread);
    ctx.registry.announce(thread.id);
    ctx.userEvents.publish(thread.participants, { type: 'thread', threadId: thread.id, change: 'unarchived' });
    return c.json(thread);
  });

  app.get('/:id/messages', async (c) => {
    const thread = await memberThread(ctx, c.req.param('id'), c.get('userId'));
    const limit = intParam(c.req.query('limit'), 'limit', 100, MAX_PAGE);
    const before = c.req.query('beforeSeq');
    const ids = c.req.queries('id');
    if ([before, c.req.query('afterSeq'), ids].filter((q) => q !== undefined).length > 1) throw badRequest('give one of afterSeq, beforeSeq or id');
    // beforeSeq pages back (newest first window, returned in seq order); afterSeq catches up;
    // id=…&id=… looks messages up (e.g. ones named by receipts that the client does not hold).
    const messages =
      ids !== undefined
        ? await ctx.store.getMessages(thread.id, idList(ids))
        : before !== undefined
          ? await ctx.store.listMessagesBefore(thread.id, intParam(before, 'beforeSeq', 0, Number.MAX_SAFE_INTEGER), limit)
          : await ctx.store.listMessages(thread.id, intParam(c.req.query('afterSeq'), 'afterSeq', 0, Number.MAX_SAFE_INTEGER), limit);
    // Receipts of sealed messages are rows; those of live ones are in the live document.
    const sealed = messages.filter((m) => m.seq <= thread.baseSeq).map((m) => m.id);
    const receipts = sealed.length ? await ctx.store.listReceipts(thread.id, sealed) : [];
    return c.json({
      messages: messages.map((m) => messageJson(m, c.get('userId'))),
      receipts,
      lastSeq: thread.lastSeq,
      baseSeq: thread.baseSeq,
      generation: thread.generation,
    });
  });

  /**
   * A sealed generation's state vector as the relay held it at the roll (base64 of Yjs'
   * encoding): an SDK moving offline work out of that generation carries only its writes the
   * relay never saw (docs/design/message-lifecycle.md, "Offline across a roll").
   */
  app.get('/:id/generations/:generation/state', async (c) => {
    const thread = await memberThread(ctx, c.req.param('id'), c.get('userId'));
    const generation = intParam(c.req.param('generation'), 'generation', 0, Number.MAX_SAFE_INTEGER);
    const sv = generation < thread.generation ? await ctx.store.sealedState(thread.id, generation) : null;
    if (!sv) throw notFound('no stored state for that generation');
    return c.json({ generation, stateVector: Buffer.from(sv).toString('base64') });
  });

  /**
   * The caller's unread messages older than what their client holds: how many messages by
   * others have `afterSeq < seq < beforeSeq` (the client counts the rest itself).
   */
  app.get('/:id/unread', async (c) => {
    const userId = c.get('userId');
    const thread = await memberThread(ctx, c.req.param('id'), userId);
    const afterSeq = intParam(c.req.query('afterSeq'), 'afterSeq', 0, Number.MAX_SAFE_INTEGER);
    const beforeSeq = intParam(c.req.query('beforeSeq'), 'beforeSeq', thread.lastSeq + 1, Number.MAX_SAFE_INTEGER);
    return c.json({ count: await ctx.store.countOthersMessages(thread.id, afterSeq, beforeSeq, userId), afterSeq, beforeSeq });
  });

  /**
   * Remote members: DIDs whose AT records (`dev.skein.chat.message` naming this thread) the
   * relay ingests into it. Records from any other repo are rejected (`not_a_remote_member`).
   */
  app.post('/:id/remotes', async (c) => {
    const thread = await moderatedThread(ctx, c.req.param('id'), c.get('userId'));
    const body = (await c.req.json().catch(() => null)) as { did?: unknown } | null;
    const did = body?.did;
    if (typeof did !== 'string' || !isDid(did)) throw badRequest('did must be a DID (did:plc:… or did:web:…)');
    const updated = (await ctx.store.setRemote(thread.id, did, true))!;
    // The new member may have written to the thread before it was let in.
    backfill(ctx, thread.id, [did]);
    // Relays that join later read the members from the thread record.
    void ctx.bridge?.threads.writeMembers(thread.id);
    ctx.userEvents.publish(updated.participants, { type: 'thread', threadId: thread.id, change: 'members' });
    return c.json(updated);
  });

  app.delete('/:id/remotes/:did', async (c) => {
    const thread = await moderatedThread(ctx, c.req.param('id'), c.get('userId'));
    const did = c.req.param('did');
    if (!thread.remotes.includes(did)) throw notFound('not a remote member of this thread');
    const updated = (await ctx.store.setRemote(thread.id, did, false))!;
    void ctx.bridge?.threads.writeMembers(thread.id);
    ctx.userEvents.publish(updated.participants, { type: 'thread', threadId: thread.id, change: 'members' });
    return c.json(updated);
  });

  /** Re-queues a message whose AT mirror failed permanently (after its cause is fixed). */
  app.post('/:id/messages/:mid/retry', async (c) => {
    const thread = await memberThread(ctx, c.req.param('id'), c.get('userId'));
    const mid = c.req.param('mid');
    if (!ctx.bridge && ctx.bridgeStarting) throw new HttpError(503, ErrorCode.MIRROR_UNAVAILABLE, 'the AT PDS is still starting; try again shortly');
    if (!ctx.bridge) throw new HttpError(409, ErrorCode.MIRROR_UNAVAILABLE, 'this relay has no AT write bridge');
    const existing = await ctx.store.getMessage(thread.id, mid);
    if (!existing) throw notFound('no such message');
    const m = await ctx.store.requeueMessage(thread.id, mid, Date.now());
    if (!m) throw new HttpError(409, ErrorCode.NOT_FAILED, `message is ${existing.state}, only failed messages can be retried`);
    (await ctx.registry.peek(thread.id)?.catch(() => undefined))?.publishCanon([m]);
    ctx.registry.announce(thread.id);
    ctx.bridge.notify();
    return c.json(messageJson(m, c.get('userId')), 202);
  });

  /** The message's state and its unexpired AT bridge failure diagnostics. */
  app.get('/:id/messages/:mid/bridge', async (c) => {
    const thread = await memberThread(ctx, c.req.param('id'), c.get('userId'));
    const m = await ctx.store.getMessage(thread.id, c.req.param('mid'));
    if (!m) throw notFound('no such message');
    const diagnostics = await ctx.store.listDiagnostics(thread.id, m.id, Date.now());
    return c.json({ id: m.id, state: m.state, atUri: m.atUri ?? null, atCid: m.atCid ?? null, error: m.error ?? null, diagnostics });
  });

  return app;
}

/** Repeated `id=` parameters: distinct message ids, at most MAX_PAGE. */
function idList(raw: string[]): string[] {
  const ids = [...new Set(raw.filter((x) => x.length > 0))];
  if (ids.length === 0) throw badRequest('id must name a message');
  if (ids.length > MAX_PAGE) throw badRequest(`at most ${MAX_PAGE} ids`);
  if (ids.some((x) => x.length > MAX_ID_LENGTH)) throw badRequest(`an id is at most ${MAX_ID_LENGTH} characters`);
  return ids;
}
