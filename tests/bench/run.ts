/**
 * `npm run bench [-- name…]`: runs every tests/bench/<name>.bench.ts (or the named ones)
 * one after another and prints their figures.
 */
import { readdirSync } from 'node:fs';

const dir = new URL('./', import.meta.url);
const wanted = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();

for (const name of benches) {
  console.log(`\n=== ${name}`);
  const mod = (await import(new URL(`./${name}.bench.ts`, dir).href)) as { run: () => Promise<void> };
  await mod.run();
}
process.exit(0);
