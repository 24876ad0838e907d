/**
 * A small HTTP proxy on loopback in front of the real PDS, to make it answer the way a
 * busy or strict production PDS would for chosen calls (429 with rate-limit headers, 400)
 * while everything else is the real PDS's answer. It drops `didDoc` from session answers
 * so the client keeps talking through the proxy instead of the PDS URL in the DID doc.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MESSAGE_NSID } from '../../shared/at-lexicon.ts';

export interface ApplyWritesCall {
  at: number;
  writes: number;
  texts: string[];
  status: number;
}

export interface Injected {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export class PdsProxy {
  readonly calls: ApplyWritesCall[] = [];
  /** Decides per applyWrites call whether to answer instead of the PDS. */
  onApplyWrites: (call: { writes: number; texts: string[] }) => Injected | undefined = () => undefined;
  /**
   * Decides for any call (before onApplyWrites) whether to answer instead of the PDS; a
   * promise holds the call until it settles (a PDS that is slow to answer).
   */
  onRequest: (path: string) => Injected | undefined | Promise<Injected | undefined> = () => undefined;
  /** Extra headers for forwarded applyWrites answers. */
  extraHeaders: (call: { writes: number }) => Record<string, string> = () => ({});
  private server!: Server;

  constructor(private readonly upstream: string) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        },
        (err) => {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'ProxyError', message: String(err) }));
        },
      );
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reqBody = Buffer.concat(chunks);
    const path = req.url ?? '/';
    const early = await this.onRequest(path);
    if (early) {
      return { status: early.status, headers: { 'content-type': 'application/json', ...early.headers }, body: Buffer.from(JSON.stringify(early.body)) };
    }
    let call: ApplyWritesCall | null = null;
    const parsed = path.startsWith('/xrpc/com.atproto.repo.applyWrites')
      ? (JSON.parse(reqBody.toString()) as { writes: Array<{ collection: string; value: { text: string } }> })
      : null;
    // Message writes are what tests inject into and count; a thread record passes straight through.
    if (parsed && parsed.writes.some((w) => w.collection === MESSAGE_NSID)) {
      call = { at: Date.now(), writes: parsed.writes.length, texts: parsed.writes.map((w) => w.value.text), status: 0 };
      this.calls.push(call);
      const injected = this.onApplyWrites(call);
      if (injected) {
        call.status = injected.status;
        return {
          status: injected.status,
          headers: { 'content-type': 'application/json', ...injected.headers },
          body: Buffer.from(JSON.stringify(injected.body)),
        };
      }
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
    }
    const up = await fetch(this.upstream + path, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : reqBody,
    });
    let body = Buffer.from(await up.arrayBuffer());
    const outHeaders: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) outHeaders[k] = v;
    });
    if (/^\/xrpc\/com\.atproto\.server\.(createSession|getSession|refreshSession)/.test(path) && up.ok) {
      const json = JSON.parse(body.toString()) as Record<string, unknown>;
      delete json.didDoc;
      body = Buffer.from(JSON.stringify(json));
    }
    if (call) {
      call.status = up.status;
      Object.assign(outHeaders, this.extraHeaders(call));
    }
    return { status: up.status, headers: outHeaders, body };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
