/**
 * The relay embedded as a library (createRelay) in a user's own Hono app, mounted on a path
 * prefix, in this process. It answers the same helper calls as a relay process (api,
 * createThread, token, wsUrl), so tests written for one run against the other.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CreateRelayOptions, type Relay, type RelayEvent, createRelay } from '../../server/create-relay.ts';
import { RelayProcess } from './relay-process.ts';

export class EmbeddedRelay extends RelayProcess {
  relay: Relay | null = null;
  server: ServerType | null = null;
  readonly events: RelayEvent[] = [];
  /** The user app's own sessions: token → user id. */
  readonly sessions = new Map<string, string>();

  constructor(
    readonly prefix: string,
    private readonly hooks: Pick<CreateRelayOptions, 'isMember'> = {},
  ) {
    super(mkdtempSync(join(tmpdir(), 'skein-embedded-')), {});
  }

  override get url(): string {
    return `http://127.0.0.1:${this.port}${this.prefix}`;
  }
  override get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}${this.prefix}/v1/sync`;
  }

  override async start(): Promise<void> {
    const relay = await createRelay({
      config: { dataDir: this.dataDir, logLevel: 'silent', idleUnloadMs: 300, compactAfterUpdates: 8 },
      authenticate: ({ token }) => (token ? (this.sessions.get(token) ?? null) : null),
      onEvent: (e) => this.events.push(e),
      ...this.hooks,
    });
    // The user's own app: its own routes, the relay under a prefix.
    const app = new Hono();
    app.get('/', (c) => c.text('my app'));
    app.post('/login', async (c) => {
      const { userId } = await c.req.json<{ userId: string }>();
      const token = randomBytes(16).toString('hex');
      this.sessions.set(token, userId);
      return c.json({ token });
    });
    app.route(this.prefix, relay.app);
    this.relay = relay;
    this.server = await new Promise<ServerType>((r) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => r(s));
    });
    relay.injectWebSocket(this.server);
    this.port = (this.server.address() as AddressInfo).port;
  }

  override async stop(): Promise<void> {
    const { server, relay } = this;
    if (!server || !relay) return;
    this.server = null;
    this.relay = null;
    const closed = new Promise<void>((r) => server.close(() => r()));
    await relay.close({ drained: closed });
  }

  /** Signs in through the user app's own login route. */
  override async token(userId: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.port}/login`, { method: 'POST', body: JSON.stringify({ userId }) });
    return ((await res.json()) as { token: string }).token;
  }
}
