/**
 * `npm test` on a fresh machine: the browser project's global setup finds a Chromium,
 * installs Debian's when it can, or stops with one line naming what is missing and the
 * command that installs it. The install itself is not run here (it needs a machine
 * without Chromium); the paths that decide whether to run it are.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APT_INSTALL, ChromiumMissing, ensureChromium } from '../helpers/chromium.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'skein-chromium-'));
const nowhere = join(dir, 'no-chromium-here');
const emptyBin = mkdtempSync(join(tmpdir(), 'skein-empty-bin-'));

function executable(name: string): string {
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, 0o755);
  return p;
}

function missing(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChromiumMissing);
    return (err as Error).message;
  }
  throw new Error('expected ChromiumMissing');
}

describe('ensureChromium', () => {
  it('uses CHROMIUM_PATH when it is an executable', () => {
    const bin = executable('my-chromium');
    expect(ensureChromium({ env: { CHROMIUM_PATH: bin }, defaultPath: nowhere })).toBe(bin);
  });

  it('uses the default path when CHROMIUM_PATH is unset', () => {
    const bin = executable('default-chromium');
    expect(ensureChromium({ env: { PATH: emptyBin }, defaultPath: bin })).toBe(bin);
  });

  it('a CHROMIUM_PATH that points nowhere stops with one line, without installing', () => {
    const line = missing(() => ensureChromium({ env: { CHROMIUM_PATH: nowhere, PATH: process.env.PATH }, defaultPath: nowhere }));
    expect(line).not.toContain('\n');
    expect(line).toContain(`CHROMIUM_PATH=${nowhere}`);
    expect(line).toContain(APT_INSTALL);
  });

  it('without Chromium and without apt-get it stops with one line saying what to do', () => {
    const line = missing(() => ensureChromium({ env: { PATH: emptyBin }, defaultPath: nowhere }));
    expect(line).not.toContain('\n');
    expect(line).toContain(nowhere);
    expect(line).toContain('CHROMIUM_PATH=');
  });
});

describe('npm test set-up', () => {
  it('a browser test run without a Chromium stops before any test with one line', async () => {
    const child = spawn(join(ROOT, 'node_modules/.bin/vitest'), ['run', 'tests/browser/sdk-browser.test.ts'], {
      cwd: ROOT,
      env: { ...process.env, CHROMIUM_PATH: nowhere, CI: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    const lines = out.split('\n').filter((l) => l.includes('CHROMIUM_PATH'));
    expect(lines, out).toEqual([`browser tests: CHROMIUM_PATH=${nowhere} is not an executable file; point it at a Chromium, or unset it and install Debian's: sudo ${APT_INSTALL}`]);
    // Stopped in set-up: no browser test ran, no relay was started.
    expect(out).not.toMatch(/✓|×|passed/);
  });

  it('a unit-only run does not need a Chromium', async () => {
    const child = spawn(join(ROOT, 'node_modules/.bin/vitest'), ['run', 'tests/unit/chromium-setup.test.ts', '-t', 'uses CHROMIUM_PATH'], {
      cwd: ROOT,
      env: { ...process.env, CHROMIUM_PATH: nowhere, CI: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).toBe(0);
  });
});
