/**
 * `/v1/threads/:id/members` and `/moderators`: who is in a thread and who moderates it
 * (issue 30, docs/design/membership.md). Decided through shared/roles.ts; every change is
 * written into the thread's live document as meta plus a system event, and reaches the rooms
 * of every instance through a fan-out refresh (which closes removed members' sockets, 4403).
 */
import { Hono } from 'hono';
import { ulid } from 'ulid';
import { ErrorCode } from '../../../shared/errors.ts';
import { isLocalUserId } from '../../../shared/schema.ts';
import { canModerate, roleOf, threadOwner } from '../../../shared/roles.ts';
import type { SystemEvent } from '../../../shared/membership.ts';
import type { AppEnv, RelayContext } from '../../context.ts';
import { HttpError, badRequest, notFound } from '../http-error.ts';
import type { ThreadRow } from '../../store/store.ts';

const MAX_MODERATORS = 100;

const forbidden = (why: string) => new HttpError(403, ErrorCode.FORBIDDEN, why);

async function threadOf(ctx: RelayContext, id: string): Promise<ThreadRow> {
  const t = await ctx.store.getThread(id);
  if (!t) throw notFound('no such thread');
  return t;
}

/**
 * Writes the changed row and its event into the live room (loading it: the event is part of
 * the thread whether anyone is connected or not), waits until it is stored, and tells the
 * other instances' rooms to re-read the row.
 */
async function record(ctx: RelayContext, thread: ThreadRow, event: Omit<SystemEvent, 'id' | 'at' | 'afterSeq'>): Promise<void> {
  const full: SystemEvent = { id: ulid(), at: Date.now(), afterSeq: thread.lastSeq, ...event };
  await ctx.registry.withLiveRoom(thread, async (room) => {
    room.syncMeta(thread, full);
    await room.settled();
  });
  ctx.registry.announce(thread.id);
}

export function memberRoutes(ctx: RelayContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  /** Adds a local user (owner or moderator). Adding a member again changes nothing. */
  app.post('/:id/members', async (c) => {
    const actor = c.get('userId');
    const thread = await threadOf(ctx, c.req.param('id'));
    if (!canModerate(thread, actor)) throw forbidden('only the owner or a moderator adds members');
    const body = (await c.req.json().catch(() => null)) as { userId?: unknown } | null;
    const userId = body?.userId;
    if (typeof userId !== 'string' || !isLocalUserId(userId)) throw badRequest('userId must be a valid local user id');
    if (thread.archived) throw new HttpError(409, ErrorCode.THREAD_ARCHIVED, 'thread is archived');
    if (thread.participants.includes(userId)) return c.json(thread);
    const updated = (await ctx.store.setMember(thread.id, userId, true))!;
    await record(ctx, updated, { type: 'member_added', actor, target: userId });
    ctx.userEvents.publish(updated.participants, { type: 'thread', threadId: thread.id, change: 'members' });
    ctx.log.info({ event: 'member_added', threadId: thread.id }, 'member added');
    return c.json(updated);
  });

  /**
   * Removes a member: the owner or a moderator removes plain members, only the owner removes
   * a moderator, anyone may leave, nobody removes the owner.
   */
  app.delete('/:id/members/:user', async (c) => {
    const actor = c.get('userId');
    const thread = await threadOf(ctx, c.req.param('id'));
    const target = c.req.param('user');
    const actorRole = roleOf(thread, actor);
    if (!actorRole) throw forbidden('not a participant of this thread');
    const targetRole = roleOf(thread, target);
    if (!targetRole) throw notFound('not a member of this thread');
    if (targetRole === 'owner') throw new HttpError(409, ErrorCode.CONFLICT, 'the owner cannot be removed');
    const allowed = actor === target || actorRole === 'owner' || (actorRole === 'moderator' && targetRole === 'member');
    if (!allowed) throw forbidden(targetRole === 'moderator' ? 'only the owner removes a moderator' : 'only the owner or a moderator removes members');
    if (targetRole === 'moderator') await ctx.store.setModerators(thread.id, thread.moderators.filter((u) => u !== target));
    const updated = (await ctx.store.setMember(thread.id, target, false))!;
    await record(ctx, updated, { type: 'member_removed', actor, target });
    ctx.userEvents.publish(updated.participants, { type: 'thread', threadId: thread.id, change: 'members' });
    // The removal itself, no content: their SDK drops the thread's local data.
    ctx.userEvents.publish([target], { type: 'thread', threadId: thread.id, change: 'removed' });
    ctx.log.info({ event: 'member_removed', threadId: thread.id }, 'member removed');
    return c.json(updated);
  });

  /** Sets the full list of moderators (owner only); each must be a participant other than the owner. */
  app.put('/:id/moderators', async (c) => {
    const actor = c.get('userId');
    const thread = await threadOf(ctx, c.req.param('id'));
    if (threadOwner(thread) !== actor) throw forbidden(roleOf(thread, actor) ? 'only the owner names moderators' : 'not a participant of this thread');
    const body = (await c.req.json().catch(() => null)) as { moderators?: unknown } | null;
    const list = body?.moderators;
    if (!Array.isArray(list) || list.length > MAX_MODERATORS || !list.every((u) => typeof u === 'string')) {
      throw badRequest(`moderators must be an array of at most ${MAX_MODERATORS} user ids`);
    }
    const moderators = [...new Set(list as string[])];
    if (moderators.some((u) => u === actor || !thread.participants.includes(u))) {
      throw badRequest('moderators must be participants other than the owner');
    }
    const updated = (await ctx.store.setModerators(thread.id, moderators))!;
    await record(ctx, updated, { type: 'moderators_set', actor, moderators: updated.moderators });
    ctx.userEvents.publish(updated.participants, { type: 'thread', threadId: thread.id, change: 'members' });
    return c.json(updated);
  });

  return app;
}
