/**
 * HTTP bodies are limited before they are read (issue 28): a real relay process answers an
 * oversize body with 413 PAYLOAD_TOO_LARGE (the limit in the body) while the upload is
 * still going, whether the size is announced (Content-Length) or not (chunked), without
 * holding it in memory. Honest bodies, including a thread with a participant list larger
 * than the default limit, still work.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { relayFixture } from '../helpers/relay-fixture.ts';

const { relay, tokens } = relayFixture({}, ['alice']);

const DEFAULT_BODY = 256 * 1024;
const THREAD_BODY = 1024 * 1024;
const FIFTY_MB = 50 * 1024 * 1024;

interface Upload {
  status: number;
  body: any;
  /** Bytes of the body written when the response arrived. */
  writtenAtResponse: number;
}

/**
 * POSTs up to `total` bytes in 64 KiB chunks, each written once the previous one drained,
 * and stops (abandoning the upload) as soon as the response arrives. `announce` sends
 * Content-Length: total (otherwise the body is chunked). A relay that waited for the whole
 * body would answer only after all of it was written.
 */
function upload(path: string, total: number, opts: { announce: boolean; token?: string }): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = request(relay.url + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.announce ? { 'content-length': String(total) } : {}),
      },
    });
    req.on('response', (res) => {
      answered = true;
      const writtenAtResponse = written;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        req.destroy(); // the rest of the upload is abandoned
        resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, writtenAtResponse });
      });
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20); // spaces: valid JSON whitespace
    const pump = () => {
      while (!answered && !req.destroyed && written < total) {
        const n = Math.min(chunk.length, total - written);
        written += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      if (!answered && written >= total && !opts.announce) req.end();
    };
    pump();
  });
}

/**
 * Bytes the relay read from the connection of a refused upload (its `http_body_refused` log
 * line, written when it closes that connection), from log index `from`.
 */
async function bytesReadByRelay(path: string, from: number): Promise<number> {
  const line = await relay.waitForLog((l) => l.event === 'http_body_refused' && l.path === path, 15_000, from);
  return line.bytesRead as number;
}

/** The relay process's resident memory, from its own /metrics. */
async function relayRss(): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  return Number(/^skein_process_resident_memory_bytes (\d+)/m.exec(text)![1]);
}

it('capabilities report the body limits', async () => {
  const caps = await relay.api('GET', '/v1/capabilities');
  expect(caps.body.limits).toMatchObject({ maxBodyBytes: DEFAULT_BODY, maxThreadBodyBytes: THREAD_BODY });
});

describe('an oversize body is refused before it is read', () => {
  it('announced 50 MB to POST /v1/dev/token (no token): 413 long before the upload ends', async () => {
    const from = relay.logs.length;
    const r = await upload('/v1/dev/token', FIFTY_MB, { announce: true });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(r.body.error.maxBytes).toBe(DEFAULT_BODY);
    expect(r.writtenAtResponse).toBeLessThan(FIFTY_MB / 2);
    // The relay stopped reading: what it took off the wire is about what the client had in
    // flight when the answer left (a reader of the whole body would report 50 MB).
    expect(await bytesReadByRelay('/v1/dev/token', from)).toBeLessThan(4 * 1024 * 1024);
  });

  it('chunked 50 MB to POST /v1/threads: 413 once the limit is passed, long before the upload ends; no 50 MB in memory', async () => {
    const before = await relayRss();
    const from = relay.logs.length;
    const r = await upload('/v1/threads', FIFTY_MB, { announce: false, token: tokens.alice });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(r.body.error.maxBytes).toBe(THREAD_BODY);
    expect(r.writtenAtResponse).toBeLessThan(FIFTY_MB / 2);
    // A relay that buffered the body would hold 50 MB (more as a string); the limit keeps ~1 MB.
    expect((await relayRss()) - before).toBeLessThan(20 * 1024 * 1024);
    expect(await bytesReadByRelay('/v1/threads', from)).toBeLessThan(THREAD_BODY + 4 * 1024 * 1024);
  });

  it('chunked 50 MB without a token: 413 too (the limit runs before anything else)', async () => {
    const from = relay.logs.length;
    const r = await upload('/v1/threads/x/remotes', FIFTY_MB, { announce: false });
    expect(r.status).toBe(413);
    expect(r.body.error.maxBytes).toBe(DEFAULT_BODY);
    expect(r.writtenAtResponse).toBeLessThan(FIFTY_MB / 2);
    expect(await bytesReadByRelay('/v1/threads/x/remotes', from)).toBeLessThan(4 * 1024 * 1024);
  });

  it('a body just over the default limit on another route gets 413; the relay keeps serving', async () => {
    const { id } = await relay.createThread(tokens.alice!, []);
    const body = JSON.stringify({ did: 'did:plc:' + 'a'.repeat(24), pad: 'x'.repeat(DEFAULT_BODY) });
    const res = await fetch(`${relay.url}/v1/threads/${id}/remotes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', maxBytes: DEFAULT_BODY });
    expect((await relay.api('GET', `/v1/threads/${id}`, tokens.alice)).status).toBe(200);
  });
});

describe('honest bodies still work', () => {
  it('a dev token and a thread whose participant list is larger than the default body limit', async () => {
    expect((await relay.api('POST', '/v1/dev/token', undefined, { userId: 'zed' })).status).toBe(200);
    // 1000 participants of 256 characters, non-ASCII (2 bytes each in UTF-8): about 510 kB,
    // twice the default limit; a valid request all the same.
    const participants = Array.from({ length: 1000 }, (_, i) => `${i}-`.padEnd(256, 'ü'));
    const body = JSON.stringify({ title: 'big room', participants });
    expect(Buffer.byteLength(body)).toBeGreaterThan(DEFAULT_BODY);
    const r = await relay.api('POST', '/v1/threads', tokens.alice, { title: 'big room', participants });
    expect(r.status).toBe(201);
    expect(r.body.participants).toHaveLength(1001);
  });
});
