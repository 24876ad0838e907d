/**
 * `SKEIN_ATPROTO_SERVICE=local`: a real reference PDS (plus its PLC directory) started
 * in-process with @atproto/dev-env, and an account for the relay.
 *
 * dev-env keeps the PLC directory in memory, so this PDS is ephemeral: every start makes
 * a fresh PDS and account, and records mirrored by earlier runs are gone with it. It is
 * for trying Skein out and for tests; production points SKEIN_ATPROTO_SERVICE at a PDS.
 * Note: the dev-env PDS and PLC listen on all interfaces (they offer no bind address).
 */
import { randomBytes } from 'node:crypto';

export interface LocalPds {
  url: string;
  did: string;
  handle: string;
  /** Random per start; kept in memory only. */
  password: string;
  close(): Promise<void>;
}

export async function startLocalPds(port: number): Promise<LocalPds> {
  // Loaded lazily: dev-env is large and only needed in this mode.
  const devEnv = (await import('@atproto/dev-env')) as typeof import('@atproto/dev-env');
  // dev-env's admin password and JWT secret are public constants, and the PDS listens on
  // every interface: replace both with random secrets so nobody else can administer it.
  const secrets = { adminPassword: randomBytes(24).toString('hex'), jwtSecret: randomBytes(32).toString('hex') };
  const network = await devEnv.TestNetworkNoAppView.create({ pds: { ...secrets, ...(port ? { port } : {}) } });
  const handle = 'skein-relay.test';
  const password = randomBytes(18).toString('base64url');
  const res = await network.pds.getClient().createAccount({ handle, email: 'relay@skein.invalid', password });
  return {
    url: network.pds.url,
    did: res.data.did,
    handle,
    password,
    close: () => network.close(),
  };
}
