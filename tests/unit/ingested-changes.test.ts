/**
 * Which edits and deletions of ingested messages a room applies (server/room/ingested-changes.ts):
 * each once, only by the message's author, nothing after a deletion — so a change applied
 * again after a crash (before it was dropped from the store) writes nothing new.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { editKey } from '../../shared/message-lifecycle.ts';
import { remoteAuthorId, threadRoots } from '../../shared/schema.ts';
import type { StoredMessage } from '../../server/store/store.ts';
import { planIngestedChanges } from '../../server/room/ingested-changes.ts';
import type { IngestedChange } from '../../server/room/room-types.ts';

const AUTHOR = remoteAuthorId('carol', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');
const row = (id: string, over: Partial<StoredMessage> = {}): StoredMessage =>
  ({ threadId: 't', id, authorId: AUTHOR, text: 'hi', clientSentAt: 1, seq: 1, sentAt: 1, state: 'confirmed', ...over }) as StoredMessage;
const edit = (messageId: string, editId: string, authorId = AUTHOR): IngestedChange => ({ kind: 'edit', messageId, authorId, editId, text: `v-${editId}`, editedAt: 5 });
const del = (messageId: string, authorId = AUTHOR): IngestedChange => ({ kind: 'delete', messageId, authorId, at: 6 });

describe('ingested edits and deletions', () => {
  it('applies an edit once: the same change again (a replay) is skipped', () => {
    const roots = threadRoots(new Y.Doc());
    const rows = new Map([['m1', row('m1')]]);
    const first = planIngestedChanges(roots, rows, [edit('m1', 'rev1')]);
    expect(first.edited).toEqual(['m1']);
    first.write(roots);
    expect(roots.edits.get(editKey('m1', 'rev1'))).toEqual({ text: 'v-rev1', editedAt: 5 });
    const again = planIngestedChanges(roots, rows, [edit('m1', 'rev1')]);
    expect(again).toMatchObject({ edited: [], redact: [], skipped: [{ messageId: 'm1', reason: 'already_applied' }] });
  });

  it('a deletion writes the marker once and redacts; after the rows are emptied nothing more happens', () => {
    const roots = threadRoots(new Y.Doc());
    const plan = planIngestedChanges(roots, new Map([['m1', row('m1')]]), [edit('m1', 'rev1'), del('m1')]);
    // The edit in the same batch is superseded: the message is going.
    expect(plan).toMatchObject({ edited: [], redact: ['m1'] });
    plan.write(roots);
    expect(roots.redactions.get('m1')).toEqual({ by: AUTHOR, at: 6 });
    // A crash after the marker, before the rows were emptied: redacted again, no second marker.
    const retry = planIngestedChanges(roots, new Map([['m1', row('m1')]]), [del('m1')]);
    expect(retry.redact).toEqual(['m1']);
    const writes: string[] = [];
    roots.redactions.observe(() => writes.push('marker'));
    retry.write(roots);
    expect(writes).toEqual([]);
    const done = planIngestedChanges(roots, new Map([['m1', row('m1', { redacted: true, text: '' })]]), [del('m1'), edit('m1', 'rev2')]);
    expect(done).toMatchObject({ redact: [], edited: [], skipped: [{ reason: 'already_deleted' }, { reason: 'already_deleted' }] });
  });

  it('skips a change of a message the thread does not hold, or holds by someone else', () => {
    const roots = threadRoots(new Y.Doc());
    const rows = new Map([['m1', row('m1', { authorId: 'alice' })]]);
    const plan = planIngestedChanges(roots, rows, [edit('m1', 'rev1'), del('m1'), edit('nope', 'rev2')]);
    expect(plan.skipped.map((s) => s.reason)).toEqual(['not_the_author', 'not_the_author', 'unknown_message']);
    plan.write(roots);
    expect(roots.edits.size + roots.redactions.size).toBe(0);
  });
});
