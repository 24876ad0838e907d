/**
 * Bearer JWTs (HS256, `sub` = user id) for HTTP and the `?token=` WebSocket parameter.
 */
import { SignJWT, jwtVerify } from 'jose';
import { isValidUserId } from '../shared/schema.ts';

const ALG = 'HS256';

export class Auth {
  constructor(private readonly secret: Uint8Array) {}

  /** Issues a token for `userId`, valid for `ttlSeconds`. */
  async issue(userId: string, ttlSeconds = 7 * 24 * 3600): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: ALG })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.secret);
  }

  /** Returns the user id of a valid token, or null for a missing, forged or expired one. */
  async verify(token: string | undefined | null): Promise<string | null> {
    if (!token) return null;
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: [ALG] });
      return typeof payload.sub === 'string' && isValidUserId(payload.sub) ? payload.sub : null;
    } catch {
      return null;
    }
  }
}
