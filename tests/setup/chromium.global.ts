/**
 * globalSetup of the browser project: `npm test` on a fresh machine finds or installs the
 * Chromium the browser tests need, or stops before any test with one line saying what is
 * missing and how to install it (instead of every browser test failing on its own).
 * Only the browser project has it, so `npx vitest run tests/unit` needs no Chromium.
 */
import { ChromiumMissing, ensureChromium } from '../helpers/chromium.ts';

export default function setup(): void {
  try {
    // Test workers are forked after global setup with this process's env: launchChromium
    // (tests/helpers/browser.ts) reads the path found here.
    process.env.CHROMIUM_PATH = ensureChromium({ log: (line) => console.log(line) });
  } catch (err) {
    if (!(err instanceof ChromiumMissing)) throw err;
    console.error(err.message);
    // Exit here: a thrown error would be printed with vitest's stack and code frame.
    process.exit(1);
  }
}
