/**
 * One relay process per test file, with tokens for its users and stock clients that are
 * destroyed when the file is done. Call at the top level of a test file.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type * as Y from 'yjs';
import { RelayProcess } from './relay-process.ts';
import { type TestClient, connectClient } from './y-client.ts';

export interface RelayFixture {
  /** Started before the file's first test, stopped after its last. */
  relay: RelayProcess;
  /** A dev token per user named at creation. */
  tokens: Record<string, string>;
  /** Clients destroyed after the file; push any made by hand. */
  clients: TestClient[];
  /** A stock y-websocket client of `user` (with its own token unless one is given). */
  client(threadId: string, user: string, opts?: { token?: string; doc?: Y.Doc }): TestClient;
}

export function relayFixture(env: Record<string, string>, users: string[]): RelayFixture {
  const relay = new RelayProcess(mkdtempSync(join(tmpdir(), 'skein-test-')), env);
  const tokens: Record<string, string> = {};
  const clients: TestClient[] = [];
  beforeAll(async () => {
    await relay.start();
    for (const u of users) tokens[u] = await relay.token(u);
  });
  afterAll(async () => {
    clients.forEach((c) => c.destroy());
    await relay.stop();
  });
  return {
    relay,
    tokens,
    clients,
    client(threadId, user, opts = {}) {
      const c = connectClient(relay.wsUrl, threadId, opts.token ?? tokens[user]!, user, opts.doc);
      clients.push(c);
      return c;
    },
  };
}
