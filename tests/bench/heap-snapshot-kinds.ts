/**
 * What a V8 heap snapshot holds, by kind: compiled code and its metadata (type `code`,
 * and `hidden` system lists that hold code) against everything else (the program's data).
 * Used to tell a leak (data that stays) from the JIT's compiled code (which stays too).
 */
import { readFileSync } from 'node:fs';

export interface HeapKinds {
  /** Bytecode, machine code, deopt data, feedback vectors… */
  code: number;
  /** Strings, objects, arrays, closures, maps, native buffers… */
  data: number;
}

/** Sizes by kind of one .heapsnapshot file, MiB. */
export function heapKindsMiB(file: string): HeapKinds {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
  };
  const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
  const iType = fields.indexOf('type');
  const iSize = fields.indexOf('self_size');
  const out: HeapKinds = { code: 0, data: 0 };
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + iType]!]!;
    out[type === 'code' || type === 'hidden' ? 'code' : 'data'] += snap.nodes[i + iSize]! / 1_048_576;
  }
  return out;
}
