/**
 * Who may do what in a thread. The relay's policy and HTTP routes, the SDK and the app all
 * decide through these functions, so a rule reads the same everywhere.
 *
 * Contract (issue 30): `ThreadMeta.owner` is the user who created the thread (absent on
 * threads created before roles existed: then the first participant is the owner);
 * `ThreadMeta.moderators` are users the owner named. The owner is always a moderator.
 */
import { type ThreadMeta, parseRemoteAuthorId } from './schema.ts';

/** A member's role in a thread. */
export type ThreadRole = 'owner' | 'moderator' | 'member';

/** What the rules read: a document's `ThreadMeta` or the API's `Thread` (whose owner may be null). */
type RoleFields = Pick<ThreadMeta, 'participants'> & { owner?: string | null; moderators?: string[] };

/** The thread's owner: `meta.owner`, or the first participant of a thread from before roles. */
export function threadOwner(meta: RoleFields): string | undefined {
  return meta.owner ?? meta.participants[0];
}

/** The role of `userId` in the thread, or null when the user is not a member. */
export function roleOf(meta: RoleFields, userId: string): ThreadRole | null {
  if (threadOwner(meta) === userId) return 'owner';
  if (!meta.participants.includes(userId)) return null;
  return meta.moderators?.includes(userId) ? 'moderator' : 'member';
}

/** Whether `userId` may act on other members' messages and on membership (owner or moderator). */
export function canModerate(meta: RoleFields, userId: string): boolean {
  const role = roleOf(meta, userId);
  return role === 'owner' || role === 'moderator';
}

/**
 * Whether `userId` may delete a message written by `authorId`: its author always; a moderator
 * too, unless the author is remote (`alice@did:…`, a message ingested from another relay's
 * repo). That record is not this relay's to delete: its other copies (the record, every
 * other relay sharing the thread) would keep the text while this relay showed "deleted",
 * so the deletion is refused rather than done halfway (design/message-lifecycle.md, "Two
 * relays sharing a thread"). `authorId` undefined: a message this side does not know.
 */
export function canRedact(meta: RoleFields, userId: string, authorId: string | undefined): boolean {
  if (authorId === userId) return true;
  if (authorId !== undefined && parseRemoteAuthorId(authorId)) return false;
  return canModerate(meta, userId);
}
