/**
 * Edits, deletions and reactions on two relay instances sharing PostgreSQL and Redis
 * (docs/design/message-lifecycle.md, "PostgreSQL + Redis, several instances"): members on
 * different instances see each other's edits, reactions and deletions; a deleted message's
 * text is in no new member's sync from either instance and in no PostgreSQL row — also when
 * an edit of it races the deletion on the other instance (a row the purging instance's
 * snapshot does not hold). Erasure posted to one instance deletes the user's messages for
 * members on the other exactly as a delete does.
 */
import pg from 'pg';
import { ulid } from 'ulid';
import * as Y from 'yjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editKey, reactionKey, reactionsByMessage, revisionsOf } from '../../shared/message-lifecycle.ts';
import { eventually } from '../helpers/eventually.ts';
import { PG_URL, postgresSchemas } from '../helpers/postgres.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { UNLIMITED, describeState, scaleOutEnv, startInstances } from '../helpers/scale-out.ts';
import { allCanon } from '../helpers/scenarios.ts';
import { type TestClient, canonicalOrder, connectClient, synced } from '../helpers/y-client.ts';

const pgs = postgresSchemas();
const contains = (bytes: Uint8Array, text: string) => Buffer.from(bytes).includes(Buffer.from(text, 'utf8'));

describe('message lifecycle on two instances (PostgreSQL + Redis)', () => {
  let relays: RelayProcess[] = [];
  const clients: TestClient[] = [];
  const schema = pgs.freshSchema();
  const ADMIN = 'erasure-admin-token-0123456789abcdef';
  const env = scaleOutEnv(schema, { ...UNLIMITED, SKEIN_IDLE_UNLOAD_MS: '60000', SKEIN_ADMIN_TOKEN: ADMIN });
  const tokens: Record<string, string> = {};
  let db: pg.Client;
  beforeAll(async () => {
    relays = await startInstances(env);
    for (const u of ['alice', 'bob', 'carol']) tokens[u] = await relays[0]!.token(u);
    db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
  });
  afterAll(async () => {
    clients.forEach((c) => c.destroy());
    await db?.end();
    await Promise.all(relays.map((r) => r.stop()));
  });
  const on = (i: number, id: string, user: string, doc?: Y.Doc) => {
    const c = connectClient(relays[i]!.wsUrl, id, tokens[user]!, user, doc);
    clients.push(c);
    return c;
  };

  /** The PostgreSQL tables (update log, message rows, ingest records, outbox) whose rows contain `text`. */
  async function tablesWith(text: string): Promise<string[]> {
    const { rows } = await db.query<{ t: string }>(
      `SELECT 'updates' AS t FROM ${schema}.updates WHERE position(convert_to($1, 'UTF8') IN data) > 0
       UNION ALL SELECT 'messages' FROM ${schema}.messages WHERE strpos(text, $1) > 0
       UNION ALL SELECT 'records' FROM ${schema}.records WHERE strpos(value::text, $1) > 0
       UNION ALL SELECT 'at_outbox' FROM ${schema}.at_outbox o JOIN ${schema}.messages m ON m.thread_id = o.thread_id AND m.id = o.message_id WHERE strpos(m.text, $1) > 0`,
      [text],
    );
    return [...new Set(rows.map((r) => r.t))];
  }

  it('edits, reactions and deletions cross instances; the deleted text is in no sync and no row, even with an edit racing the deletion', async () => {
    const { id } = await relays[0]!.createThread(tokens.alice!, ['bob', 'carol']);
    const a = on(0, id, 'alice');
    const b = on(1, id, 'bob');
    const a1 = on(1, id, 'alice'); // alice's second device, on the other instance
    await Promise.all([synced(a), synced(b), synced(a1)]);
    const secret = `SECRET-${ulid()}`;
    const keep = a.send('stays');
    const gone = a.send(`${secret} original`);
    await b.until(allCanon(b, [keep.id, gone.id]), 'bob has both on instance 1');
    await a1.until(allCanon(a1, [keep.id, gone.id]), 'alice’s second device has both');
    const order = canonicalOrder(b);

    // An edit on instance 0 reaches bob on instance 1; bob's reaction reaches alice on 0.
    a.roots.edits.set(editKey(gone.id, ulid()), { text: `${secret} edited`, editedAt: Date.now() });
    a.roots.edits.set(editKey(keep.id, ulid()), { text: 'stays, edited', editedAt: Date.now() });
    await b.until(() => revisionsOf(b.roots.edits.entries(), keep.id).at(-1)?.text === 'stays, edited', 'bob sees the edit');
    b.roots.reactions.set(reactionKey(keep.id, 'bob', '👍'), { at: 1 });
    b.roots.reactions.set(reactionKey(gone.id, 'bob', '👀'), { at: 1 });
    await a.until(() => reactionsByMessage(a.roots.reactions.entries()).get(keep.id)?.[0]?.count === 1 && a.roots.reactions.size === 2, 'alice sees the reactions');
    await eventually(() => tablesWith(secret), (t) => t.includes('updates') && t.includes('messages'), 'the text is stored (the test can fail)');

    // The deletion on instance 0 and, at the same moment, another edit of the message from
    // alice's device on instance 1: that instance may store the edit before the purge reaches it.
    const late = `${secret} late edit`;
    a.roots.redactions.set(gone.id, { by: 'alice', at: Date.now() });
    a1.roots.edits.set(editKey(gone.id, ulid()), { text: late, editedAt: Date.now() });

    // Every member, on either instance, ends with the record, its revisions and reactions gone.
    for (const c of [a, b, a1]) {
      await c.until(
        () => c.roots.redactions.has(gone.id) && !c.roots.messages.toArray().some((m) => m.id === gone.id) && [...c.roots.edits.keys(), ...c.roots.reactions.keys()].every((k) => !k.startsWith(gone.id)),
        `${c.userId} on ${c === a ? 0 : 1} drops the message`,
      );
    }
    expect(canonicalOrder(b)).toEqual(order);
    expect(revisionsOf(b.roots.edits.entries(), keep.id).at(-1)?.text).toBe('stays, edited');
    expect(reactionsByMessage(b.roots.reactions.entries()).get(keep.id)).toEqual([{ emoji: '👍', count: 1, users: ['bob'] }]);

    // No PostgreSQL row keeps the text (the purge, and a second one if the racing edit was
    // stored by the other instance after the first purge's snapshot).
    try {
      await eventually(() => tablesWith(secret), (t) => t.length === 0, 'no row holds the deleted text');
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${describeState(relays, [a, b, a1])}`);
    }
    expect(await tablesWith('stays, edited')).toContain('updates');

    // A new member's sync from either instance (a document that keeps deleted content) lacks it.
    for (const i of [0, 1]) {
      const fresh = on(i, id, 'carol', new Y.Doc({ gc: false }));
      await synced(fresh);
      await fresh.until(() => fresh.roots.redactions.has(gone.id) && fresh.roots.canon.has(keep.id), `carol synced from instance ${i}`);
      const sync = Y.encodeStateAsUpdate(fresh.doc);
      expect(contains(sync, secret)).toBe(false);
      expect(contains(sync, 'stays, edited')).toBe(true);
      fresh.destroy();
    }
    for (const c of [a, b, a1]) expect(contains(Y.encodeStateAsUpdate(c.doc), secret)).toBe(false);
    expect(await tablesWith(secret)).toEqual([]);
  });

  it('erasure through one instance deletes the user’s messages for members on the other, as a delete', async () => {
    const { id } = await relays[0]!.createThread(tokens.alice!, ['bob']);
    const a = on(0, id, 'alice');
    const b = on(1, id, 'bob');
    await Promise.all([synced(a), synced(b)]);
    const secret = `ERASED-${ulid()}`;
    const gone = b.send(`${secret} by bob`);
    const kept = a.send('alice keeps this');
    await a.until(allCanon(a, [gone.id, kept.id]), 'alice has both on instance 0');
    await eventually(() => tablesWith(secret), (t) => t.length > 0, 'the text is stored (the test can fail)');
    const r = await relays[1]!.api('POST', '/v1/admin/erasure', ADMIN, { userId: 'bob' });
    expect(r.status).toBe(200);
    expect(r.body.totals).toMatchObject({ threads: 1, messages: 1 });
    for (const c of [a, b]) {
      await c.until(() => c.roots.redactions.has(gone.id) && !c.roots.messages.toArray().some((m) => m.id === gone.id), `${c.userId} sees bob’s message deleted`);
      expect(contains(Y.encodeStateAsUpdate(c.doc), secret)).toBe(false);
    }
    expect(a.roots.messages.toArray().map((m) => m.text)).toEqual(['alice keeps this']);
    await eventually(() => tablesWith(secret), (t) => t.length === 0, 'no row holds the erased text');
  });
});
