/**
 * Single-use WebSocket tickets (`POST /v1/tickets`, then `?ticket=` on `/v1/sync/:doc` and
 * `/v1/events`): a browser logs every URL it failed to open, so our SDK puts a short-lived
 * ticket there instead of the bearer token.
 *
 * `TicketStore` keeps them in this process's memory: a single relay needs nothing more. A
 * relay with Redis (several instances) uses `RedisTickets` (redis-tickets.ts) instead, so a
 * ticket issued by one instance is valid, once, on any of them.
 */
import { randomBytes } from 'node:crypto';

/** Outstanding tickets kept at most; past it the oldest are dropped (their clients ask again after a 4401). */
export const MAX_TICKETS = 50_000;

/** Where tickets live: this process, or Redis for every instance. */
export interface Tickets {
  readonly ttlMs: number;
  /** A new ticket for `userId`, valid once within `ttlMs`. */
  issue(userId: string): string | Promise<string>;
  /** The user a valid ticket was issued to, or null; the ticket is spent either way. */
  consume(ticket: string): string | null | Promise<string | null>;
  close(): void;
}

interface Entry {
  userId: string;
  expiresAt: number;
}

export class TicketStore implements Tickets {
  private readonly tickets = new Map<string, Entry>();
  private readonly sweep: ReturnType<typeof setInterval> | null;

  constructor(
    readonly ttlMs: number,
    private readonly max = MAX_TICKETS,
    private readonly now: () => number = Date.now,
  ) {
    // Unconsumed tickets would otherwise stay until the cap pushes them out.
    this.sweep = ttlMs > 0 ? setInterval(() => this.dropExpired(), Math.max(ttlMs, 1000)) : null;
    this.sweep?.unref?.();
  }

  get size(): number {
    return this.tickets.size;
  }

  /** A new ticket for `userId`, valid once within `ttlMs`. */
  issue(userId: string): string {
    if (this.tickets.size >= this.max) this.dropExpired();
    // Map order is insertion order: the first keys are the oldest tickets.
    for (const k of this.tickets.keys()) {
      if (this.tickets.size < this.max) break;
      this.tickets.delete(k);
    }
    const ticket = randomBytes(24).toString('base64url');
    this.tickets.set(ticket, { userId, expiresAt: this.now() + this.ttlMs });
    return ticket;
  }

  /** The user a valid ticket was issued to, or null; the ticket is spent either way. */
  consume(ticket: string): string | null {
    const e = this.tickets.get(ticket);
    if (!e) return null;
    this.tickets.delete(ticket);
    return e.expiresAt > this.now() ? e.userId : null;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [k, e] of this.tickets) if (e.expiresAt <= now) this.tickets.delete(k);
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.tickets.clear();
  }
}
