/**
 * Token bucket: `rate` tokens per second, holding at most `burst`. Used per connection
 * for messages, update frames and awareness updates, and per user for HTTP writes.
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
