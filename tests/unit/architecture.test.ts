/**
 * The layout is the architecture (README, "Architecture"): `client → shared ← server`, and no
 * import cycles inside any of them. Type-only imports count: a cycle of types is a cycle of
 * concepts. A new cycle fails here with the files that form it.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TOP = ['shared', 'server', 'client'] as const;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'dist' || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Relative imports of every source file, as repo-relative paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const top of TOP) {
    for (const file of sources(join(ROOT, top))) {
      const text = readFileSync(file, 'utf8');
      const deps = new Set<string>();
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        deps.add(relative(ROOT, resolve(dirname(file), spec)));
      }
      graph.set(relative(ROOT, file), [...deps]);
    }
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

describe('architecture', () => {
  const graph = importGraph();

  it('reads the whole tree', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('server/room/thread-room.ts')?.length).toBeGreaterThan(3);
  });

  it('has no import cycles in shared/, server/ or client/', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
  });

  it('every folder says what it is (README.md)', () => {
    const folders = new Set([...graph.keys()].map((f) => dirname(f)));
    const missing = [...folders].filter((d) => !existsSync(join(ROOT, d, 'README.md')));
    expect(missing).toEqual([]);
  });

  it('client and server import shared, never each other', () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const side = file.split('/')[0];
      for (const d of deps) {
        const to = d.split('/')[0];
        if (side === 'shared' ? to !== 'shared' : to !== side && to !== 'shared') wrong.push(`${file} → ${d}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
