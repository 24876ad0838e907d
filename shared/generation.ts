/**
 * Thread generations (docs/data-model.md, "Windowed threads"): a thread's history is
 * sealed in generations; only the newest one is a live Yjs document. Pure helpers shared
 * by the relay and the SDK.
 */

/** Separates a thread id from its generation in a live document's name. */
export const GENERATION_SEPARATOR = '~';

/** The y-websocket document name of generation `generation` of a thread. */
export function liveDocName(threadId: string, generation: number): string {
  return generation === 0 ? threadId : `${threadId}${GENERATION_SEPARATOR}${generation}`;
}

/**
 * Splits a document name into thread id and generation. A name without a `~<digits>`
 * suffix is generation 0 (every thread created before generations existed). Callers that
 * may hold a thread whose id itself contains `~` try the whole name as an id first.
 */
export function parseDocName(name: string): { threadId: string; generation: number } {
  const i = name.lastIndexOf(GENERATION_SEPARATOR);
  if (i > 0) {
    const g = name.slice(i + 1);
    if (/^[1-9][0-9]{0,8}$/.test(g)) return { threadId: name.slice(0, i), generation: Number(g) };
  }
  return { threadId: name, generation: 0 };
}
