/** Polls `get` until `pred` holds on its value: awaits a state over HTTP instead of sleeping. */
export async function eventually<T>(get: () => Promise<T>, pred: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 600)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
