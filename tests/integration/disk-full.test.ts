/**
 * The data directory fills up mid-burst (issue 27), seen from outside: a relay process whose
 * SQLite data directory is on a 6 MiB tmpfs, two stock y-websocket clients writing, and a
 * filler file that takes every free byte, then gives a little back now and then, then all.
 * Afterwards every message has exactly one seq, gap-free, both clients agree with the relay,
 * and nobody was refused for good (no 44xx close).
 *
 * Mounting needs root (CI runs as root); elsewhere the case is skipped, saying why.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../shared/schema.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { type TestClient, connectClient, synced } from '../helpers/y-client.ts';

const mnt = mkdtempSync(join(tmpdir(), 'skein-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt], { stdio: 'ignore' });
  mounted = true;
} catch {
  console.warn('disk-full: cannot mount a tmpfs here (needs root); skipped');
}

const clients: TestClient[] = [];
let relay: RelayProcess | null = null;
afterAll(async () => {
  for (const c of clients) c.destroy();
  await relay?.stop();
  if (mounted) execFileSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
});

/** A file that takes every free byte of the filesystem (`fill`), or gives some back (`free`). */
class Filler {
  private readonly fd: number;
  constructor(private readonly path: string) {
    this.fd = openSync(path, 'w');
  }
  fill(): void {
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (;;) {
      try {
        writeSync(this.fd, chunk, 0, chunk.length, statSync(this.path).size);
      } catch {
        return; // ENOSPC: full
      }
    }
  }
  free(bytes: number): void {
    ftruncateSync(this.fd, Math.max(0, statSync(this.path).size - bytes));
  }
  remove(): void {
    closeSync(this.fd);
    rmSync(this.path);
  }
}

describe.skipIf(!mounted)('the data directory fills up mid-burst', () => {
  it('leaves every message with exactly one seq, gap-free, and no client refused', async () => {
    const dataDir = join(mnt, 'data');
    mkdirSync(dataDir);
    relay = new RelayProcess(dataDir, { SKEIN_LOG_LEVEL: 'info', SKEIN_COMPACT_AFTER_UPDATES: '50' });
    await relay.start();
    const [ta, tb] = await Promise.all([relay.token('alice'), relay.token('bob')]);
    const { id } = await relay.createThread(ta, ['bob']);
    const alice = connectClient(relay.wsUrl, id, ta, 'alice');
    const bob = connectClient(relay.wsUrl, id, tb, 'bob');
    clients.push(alice, bob);
    await Promise.all([synced(alice), synced(bob)]);

    const filler = new Filler(join(mnt, 'filler'));
    const sent: MessageRecord[] = [];
    const text = 'z'.repeat(1500);
    for (let round = 0; round < 12; round++) {
      if (round === 2) filler.fill();
      // Now and then a little space comes back, and is taken again.
      if (round > 2 && round % 3 === 0) filler.free(256 * 1024);
      if (round > 2 && round % 3 === 2) filler.fill();
      for (let i = 0; i < 10; i++) {
        sent.push(alice.send(`a${round}.${i} ${text}`));
        sent.push(bob.send(`b${round}.${i} ${text}`));
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    filler.remove();
    const ids = sent.map((m) => m.id);
    for (const c of [alice, bob]) await c.until(() => ids.every((i) => c.roots.canon.has(i)), `${c.userId}: every message sequenced`, 90_000);

    // The relay's rows: each message once, seqs 1..n.
    const res = await relay.api<{ messages: Array<{ id: string; seq: number }> }>('GET', `/v1/threads/${id}/messages?afterSeq=0&limit=1000`, ta);
    const rows = res.body.messages;
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    const seq = new Map(rows.map((r) => [r.id, r.seq]));
    for (const c of [alice, bob]) for (const i of ids) expect(c.roots.canon.get(i)?.seq).toBe(seq.get(i));
    expect([...alice.closes, ...bob.closes].filter((c) => c.code >= 4400 && c.code < 4500)).toEqual([]);
    // The disk really was full: commits failed meanwhile.
    expect(relay.logs.some((l) => l.event === 'commit_failed' || l.event === 'append_failed')).toBe(true);
  }, 180_000);
});
