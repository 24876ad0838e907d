/**
 * Presence of a thread's members (awareness: never persisted or mirrored): who is here and
 * who is typing. Typing is re-sent sparingly, since the relay rate-limits awareness changes.
 */
import type * as awarenessProtocol from 'y-protocols/awareness';

const TYPING_TTL_MS = 5_000;
/** A typing client re-sends its presence at most this often. */
const TYPING_REFRESH_MS = 2_000;

/** What other members are doing right now. */
export interface PresenceEntry {
  clientId: number;
  userId: string;
  typing: boolean;
  state: Record<string, unknown>;
}

export class Presence {
  private typingTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly awareness: awarenessProtocol.Awareness,
    private readonly userId: string,
  ) {
    awareness.setLocalState({ userId });
  }

  /** Other clients present (other tabs, devices and users). */
  others(): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    const now = Date.now();
    this.awareness.getStates().forEach((state, clientId) => {
      if (clientId === this.awareness.clientID || typeof state?.userId !== 'string') return;
      const typingAt = typeof state.typingAt === 'number' ? state.typingAt : 0;
      out.push({ clientId, userId: state.userId, typing: now - typingAt < TYPING_TTL_MS, state });
    });
    return out;
  }

  set(fields: Record<string, unknown>): void {
    const cur = this.awareness.getLocalState() ?? {};
    this.awareness.setLocalState({ ...cur, ...fields, userId: this.userId });
  }

  setTyping(typing: boolean): void {
    const cur = this.awareness.getLocalState();
    const typingAt = typeof cur?.typingAt === 'number' ? cur.typingAt : 0;
    const now = Date.now();
    if (typing && now - typingAt > TYPING_REFRESH_MS) this.set({ typingAt: now });
    else if (!typing && typingAt !== 0) this.set({ typingAt: 0 });
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = typing ? setTimeout(() => this.setTyping(false), TYPING_TTL_MS) : null;
  }

  /** Leaves (other clients see this one go) and stops the typing timer. */
  close(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.awareness.setLocalState(null);
  }
}
