/** `strace -c -f` attached to a running process (every thread) for a measured stretch. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Attaches `strace -c -f` to the server; the returned stop() detaches and parses its summary. */
export async function straceStart(pid: number, dir: string): Promise<() => Promise<{ calls: number; top: Array<[string, number]> }>> {
  const out = join(dir, `strace.${pid}.${Date.now()}`);
  const proc = spawn('strace', ['-c', '-f', '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  // strace reports each attached thread on stderr; wait until the first one is.
  await new Promise<void>((resolve) => proc.stderr!.once('data', () => resolve()));
  await sleep(200);
  return async () => {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    await exited;
    const rows = readFileSync(out, 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 5 && /^[\d.]+$/.test(f[0]!) && /^\d+$/.test(f[3]!));
    const calls = rows.filter((f) => f.at(-1) === 'total').reduce((a, f) => a + Number(f[3]), 0);
    const top = rows
      .filter((f) => f.at(-1) !== 'total')
      .map((f) => [f.at(-1)!, Number(f[3])] as [string, number])
      .sort((a, b) => b[1] - a[1]);
    return { calls, top };
  };
}

