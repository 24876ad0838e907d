/**
 * Token bucket: `rate` tokens per second, holding at most `burst`. Used per connection
 * for messages and update frames, per user and thread for offline backlogs and awareness
 * (KeyedBuckets), and per user for HTTP writes.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `n` tokens if available; false (taking nothing) when the rate is exceeded. */
  take(n = 1): boolean {
    this.refill();
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens are available (0 when they are now). */
  waitMs(n = 1): number {
    this.refill();
    return n <= this.tokens ? 0 : ((n - this.tokens) / this.rate) * 1000;
  }

  /** Whole tokens available now. */
  get available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  /** True when the bucket is full again, i.e. forgetting it changes nothing. */
  get idle(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
}

/**
 * Token buckets by key (a user in a thread, a thread), created full on first use. Full
 * (idle) buckets are forgotten once `pruneAt` are kept: forgetting a full bucket changes
 * nothing, so the map stays bounded by the keys that are actually spending.
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly pruneAt = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(key: string): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.pruneAt) for (const [k, old] of this.buckets) if (old.idle) this.buckets.delete(k);
      b = new TokenBucket(this.rate, this.burst, this.now);
      this.buckets.set(key, b);
    }
    return b;
  }
}
