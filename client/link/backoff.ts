/**
 * Reconnect delays with full jitter: `random(0, min(cap, base · 2^attempt))`.
 *
 * After a relay restart every client of it loses its sockets in the same instant. A fixed
 * exponential backoff (y-websocket's own: 200, 400, 800 … ms) brings them all back in the
 * same instant again, attempt after attempt; even "half jitter" keeps them in a band. Full
 * jitter spreads each attempt evenly over its whole window, which is what lets a restarted
 * relay take its clients back without a stampede (AWS Architecture Blog, "Exponential
 * Backoff And Jitter").
 */

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry), ms. `random` is
 * `Math.random` but for tests.
 */
export function reconnectDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  // 2 ** attempt grows to Infinity for a client offline long enough; min() keeps the cap.
  const window = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * window);
}

/**
 * The wait after a refusal that names its least wait (close 4530, `retry_after_ms`): at
 * least `hintMs`, spread over one more `hintMs` so the clients refused together do not all
 * come back together.
 */
export function retryAfterDelay(hintMs: number, random: () => number = Math.random): number {
  return hintMs + Math.floor(random() * hintMs);
}
