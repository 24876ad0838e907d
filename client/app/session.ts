/**
 * Dev sign-in and the stored token: what the app keeps in localStorage to start signed in,
 * also offline.
 */

export const USER_KEY = 'skein-app:user';
/** Set while the app runs as a guest (no relay, no token). */
export const GUEST_KEY = 'skein-app:guest';
/** The user chose to keep their guest threads local: do not ask again at sign-in. */
export const GUEST_KEPT_KEY = 'skein-app:guest-kept';
export const tokenKey = (user: string) => `skein-app:token:${user}`;

/** Capabilities as the relay sends them (a superset of the SDK's typed view). */
export interface AppCapabilities {
  devAuth?: boolean;
  atproto: {
    features: { write_bridge: boolean; repo_ingest: boolean };
    did: string | null;
    service: string | null;
    mirrorDefault?: boolean;
    degraded: boolean;
    reason?: string;
  };
  limits?: { maxTextLength?: number };
}

/** Mints a dev token (`POST /v1/dev/token`); only relays with dev auth offer it. */
export async function devToken(user: string): Promise<string> {
  const res = await fetch('/v1/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: user }),
  });
  if (res.status === 404) throw new Error('This relay has dev sign-in turned off (SKEIN_DEV_AUTH=0).');
  const body = (await res.json().catch(() => null)) as { token?: string; error?: { message?: string } } | null;
  if (!res.ok || !body?.token) throw new Error(body?.error?.message ?? `Sign-in failed (${res.status}).`);
  return body.token;
}

/** Seconds until a JWT expires (0 when unreadable). */
export function secondsLeft(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return (payload.exp ?? 0) - Date.now() / 1000;
  } catch {
    return 0;
  }
}

/**
 * The stored dev token, renewed when it is about to expire or the relay no longer accepts
 * it (e.g. a new data dir, so a new secret). Offline, the stored one is used as is.
 */
export async function freshToken(user: string, check: boolean): Promise<string> {
  const stored = localStorage.getItem(tokenKey(user)) ?? '';
  let renew = secondsLeft(stored) < 3600;
  if (!renew && check) {
    const res = await fetch('/v1/threads', { headers: { authorization: `Bearer ${stored}` } }).catch(() => null);
    renew = res?.status === 401;
  }
  if (!renew) return stored;
  try {
    const token = await devToken(user);
    localStorage.setItem(tokenKey(user), token);
    return token;
  } catch {
    return stored;
  }
}
