/** Clock ranges of a delete set. */

export interface ClockRange {
  clock: number;
  len: number;
}

/** Sorts and merges overlapping ranges, so that a repeated range costs nothing. */
export function mergeRanges(ranges: ClockRange[]): ClockRange[] {
  const sorted = [...ranges].sort((a, b) => a.clock - b.clock);
  const out: ClockRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.clock <= last.clock + last.len) last.len = Math.max(last.len, r.clock + r.len - last.clock);
    else out.push({ clock: r.clock, len: r.len });
  }
  return out;
}
