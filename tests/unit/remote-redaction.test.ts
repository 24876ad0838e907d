/**
 * Who may delete a message from another relay (shared/roles.ts `canRedact`): only its author,
 * never a moderator here — and the app's Delete control follows the same rule.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { mayDelete } from '../../client/app/message-actions.ts';
import type { ThreadView, ViewMessage } from '../../client/index.ts';
import { canRedact } from '../../shared/roles.ts';
import { remoteAuthorId, threadRoots } from '../../shared/schema.ts';

const META = { participants: ['carol', 'dave', 'erin'], owner: 'carol', moderators: ['dave'] };
const REMOTE = remoteAuthorId('zoe', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');

describe('deleting a remote author’s message', () => {
  it('only its author may; the owner and moderators may delete local authors’ messages only', () => {
    expect(canRedact(META, 'carol', 'erin')).toBe(true);
    expect(canRedact(META, 'dave', 'erin')).toBe(true);
    expect(canRedact(META, 'erin', 'carol')).toBe(false);
    expect(canRedact(META, 'carol', REMOTE)).toBe(false);
    expect(canRedact(META, 'dave', REMOTE)).toBe(false);
    expect(canRedact(META, REMOTE, REMOTE)).toBe(true);
    // A message this side does not know (yet): a moderator's marker waits for the relay to judge it.
    expect(canRedact(META, 'dave', undefined)).toBe(true);
  });

  it('the app shows Delete to a moderator for a local author’s message, not for a remote author’s', () => {
    const doc = new Y.Doc();
    const roots = threadRoots(doc);
    roots.meta.set('participants', META.participants);
    roots.meta.set('owner', META.owner);
    roots.meta.set('moderators', META.moderators);
    const view = { roots } as unknown as ThreadView;
    const message = (authorId: string) => ({ id: 'm1', authorId, text: 'hi', mine: false }) as unknown as ViewMessage;
    expect(mayDelete(view, 'dave', message('erin'))).toBe(true);
    expect(mayDelete(view, 'dave', message(REMOTE))).toBe(false);
    expect(mayDelete(view, 'carol', message(REMOTE))).toBe(false);
  });
});
