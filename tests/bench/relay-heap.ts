/** Relay heap and RSS as benches read them (relay started with --expose-gc and SKEIN_BENCH_GC_BEFORE_METRICS=1). */
import { readFileSync } from 'node:fs';
import type { RelayProcess } from '../helpers/relay-process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lowest of several heap samples from /metrics, each after a full GC, MiB. */
export async function heapMiB(relay: RelayProcess, samples = 6): Promise<number> {
  let low = Infinity;
  for (let i = 0; i < samples; i++) {
    // A relay that just spent seconds loading may have closed an idle keep-alive socket: retry once.
    const get = () => fetch(`${relay.url}/metrics`).then((r) => r.text());
    const text = await get().catch(get);
    const v = Number(/^skein_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]);
    low = Math.min(low, v / 1_048_576);
    await sleep(500);
  }
  return low;
}

/** Like heapMiB, with how much of that heap is machine code (V8's code space: what the JIT compiled). */
export async function heapPartsMiB(relay: RelayProcess, samples = 6): Promise<{ heap: number; code: number }> {
  let low = { heap: Infinity, code: 0 };
  for (let i = 0; i < samples; i++) {
    const get = () => fetch(`${relay.url}/metrics`).then((r) => r.text());
    const text = await get().catch(get);
    const heap = Number(/^skein_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]) / 1_048_576;
    const code = Number(/^skein_nodejs_heap_space_size_used_bytes\{space="code"\} (\S+)$/m.exec(text)?.[1] ?? 0) / 1_048_576;
    if (heap < low.heap) low = { heap, code };
    await sleep(500);
  }
  return low;
}

export const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** Makes the next relay started by this process GC before each /metrics answer. */
export function exposeGc(): Record<string, string> {
  process.env.RELAY_NODE_ARGS = `${process.env.RELAY_NODE_ARGS ?? ''} --expose-gc`.trim();
  return { SKEIN_BENCH_GC_BEFORE_METRICS: '1' };
}
