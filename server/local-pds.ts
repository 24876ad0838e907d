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
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface LocalPds {
  url: string;
  did: string;
  handle: string;
  /** Random per start; kept in memory only. */
  password: string;
  close(): Promise<void>;
}

/** Starts the PDS with its files in `<dataDir>/local-pds` (wiped first: nothing there outlives a run). */
export async function startLocalPds(port: number, dataDir: string): Promise<LocalPds> {
  const root = join(dataDir, 'local-pds');
  rmSync(root, { recursive: true, force: true });
  const dirs = { dataDirectory: join(root, 'data'), blobstoreDiskLocation: join(root, 'blobs') };
  mkdirSync(dirs.dataDirectory, { recursive: true });
  // Loaded lazily: dev-env is large and only needed in this mode.
  const devEnv = (await import('@atproto/dev-env')) as typeof import('@atproto/dev-env');
  // dev-env's admin password and JWT secret are public constants, and the PDS listens on
  // every interface: replace both with random secrets so nobody else can administer it.
  const secrets = { adminPassword: randomBytes(24).toString('hex'), jwtSecret: randomBytes(32).toString('hex') };
  const network = await devEnv.TestNetworkNoAppView.create({ pds: { ...secrets, ...dirs, ...(port ? { port } : {}) } });
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
