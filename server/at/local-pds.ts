/**
 * `SKEIN_ATPROTO_SERVICE=local`: a real reference PDS (plus its PLC directory) started
 * in-process with @atproto/dev-env, and an account for the relay.
 *
 * It keeps its identity and records across restarts of the same data directory, so at://
 * links stay valid: the PDS's databases and blobs live in `<dataDir>/local-pds/`, and its
 * secrets, port, account and the account's signed PLC operations in
 * `<dataDir>/local-pds/state.json` (mode 600). dev-env's PLC directory only keeps DIDs in
 * memory, so at each start the stored operations are sent to it again: they are signed, so
 * the same DID comes back with the same document. It is for trying Skein out and for tests;
 * production points SKEIN_ATPROTO_SERVICE at a PDS.
 * With `plcUrl` (SKEIN_PLC_URL) the PDS registers its DID in that PLC directory instead of
 * running its own: a second local relay pointed at the first one's PLC can then verify the
 * first one's commits and be verified by it (two `npm start`s sharing a thread).
 * The PDS and its PLC listen on `host` (SKEIN_ATPROTO_LOCAL_HOST, 127.0.0.1 by default): dev-env
 * offers no bind address and would listen on every interface (see `bindStart`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ConfigError } from '../config/config.ts';

export interface LocalPds {
  url: string;
  did: string;
  handle: string;
  /** Generated once per data directory; kept in state.json (mode 600), never logged. */
  password: string;
  /** The in-process PLC directory that resolves its DID (and the ingest's signature checks). */
  plcUrl: string;
  close(): Promise<void>;
}

/** What the local PDS needs to come back as itself. */
interface LocalPdsState {
  port: number;
  jwtSecret: string;
  adminPassword: string;
  plcRotationKeyHex: string;
  /** Port of the own PLC directory, kept so its URL stays the same across restarts. */
  plcPort?: number;
  account?: { did: string; handle: string; password: string; plcLog: unknown[] };
}

const HANDLE = 'skein-relay.test';
const REREGISTER_MS = 30_000;

/** A PLC directory over HTTP (its API: POST /:did an operation, GET /:did/log, GET /:did). */
const plcHttp = (url: string) => ({
  async send(did: string, op: unknown): Promise<void> {
    const res = await fetch(`${url}/${encodeURIComponent(did)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op) });
    if (!res.ok) throw new Error(`PLC ${url} refused an operation of ${did}: ${res.status}`);
  },
  async log(did: string): Promise<unknown[]> {
    const res = await fetch(`${url}/${encodeURIComponent(did)}/log`);
    if (!res.ok) throw new Error(`PLC ${url} has no log of ${did}: ${res.status}`);
    return (await res.json()) as unknown[];
  },
  async has(did: string): Promise<boolean> {
    return (await fetch(`${url}/${encodeURIComponent(did)}`)).ok;
  },
});

function readState(file: string): LocalPdsState | null {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as LocalPdsState;
}

function writeState(file: string, state: LocalPdsState): void {
  writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
}

/** A server class of dev-env's (its PDS, its PLC) whose `start()` calls `this.app.listen(port)`. */
interface ExpressServerClass {
  prototype: { start(...args: unknown[]): Promise<unknown>; app?: { listen(...args: unknown[]): unknown } };
}

/**
 * Makes `cls.prototype.start` listen on `host` only, until the returned function undoes it.
 * dev-env's TestPds / TestPlc create and start their servers in one call, and those call
 * express's `app.listen(port)` without a host, which listens on every interface: a PDS with
 * a known account and the relay's repo, and a PLC directory anyone could write to, open to
 * the network of whoever tried Skein out. Passing the host to that one listen call is the
 * narrowest hook there is (the classes are dev-env's own copies, resolved from dev-env).
 */
function bindStart(cls: ExpressServerClass, host: string): () => void {
  const start = cls.prototype.start;
  cls.prototype.start = function (this: { app: { listen(...args: unknown[]): unknown } }, ...args: unknown[]) {
    const app = this.app;
    const listen = app.listen;
    app.listen = (port: unknown, ...rest: unknown[]) => listen.call(app, port, host, ...rest);
    return start.apply(this, args);
  };
  return () => {
    cls.prototype.start = start;
  };
}

/**
 * Starts (or restarts) the local PDS of `dataDir`. `port` 0: the port it had, or a free one.
 * `host`: the interface the PDS and its PLC listen on.
 */
export async function startLocalPds(port: number, dataDir: string, externalPlcUrl: string | null = null, host = '127.0.0.1'): Promise<LocalPds> {
  const root = join(dataDir, 'local-pds');
  const dirs = { dataDirectory: join(root, 'data'), blobstoreDiskLocation: join(root, 'blobs') };
  mkdirSync(dirs.dataDirectory, { recursive: true });
  const stateFile = join(root, 'state.json');
  // Loaded lazily: dev-env is large and only needed in this mode.
  const devEnv = (await import('@atproto/dev-env')) as typeof import('@atproto/dev-env');
  const { Secp256k1Keypair } = (await import('@atproto/crypto')) as typeof import('@atproto/crypto');
  // The very modules dev-env uses (its dependencies, not ours).
  const fromDevEnv = createRequire(createRequire(import.meta.url).resolve('@atproto/dev-env'));
  const { PDS } = fromDevEnv('@atproto/pds') as { PDS: ExpressServerClass };
  const { PlcServer } = fromDevEnv('@did-plc/server') as { PlcServer: ExpressServerClass };
  let state = readState(stateFile);
  if (state && port && port !== state.port) {
    throw new ConfigError(
      'SKEIN_ATPROTO_LOCAL_PORT',
      `the local PDS of this data directory listens on ${state.port} (its DID document says so); unset it or set it to ${state.port}`,
    );
  }
  if (!state) {
    // dev-env's admin password and JWT secret are public constants: replace both with random
    // secrets so nobody else can administer it (should it listen beyond loopback).
    const rotation = await Secp256k1Keypair.create({ exportable: true });
    state = {
      port,
      jwtSecret: randomBytes(32).toString('hex'),
      adminPassword: randomBytes(24).toString('hex'),
      plcRotationKeyHex: Buffer.from(await rotation.export()).toString('hex'),
    };
  }
  let ownPlc: InstanceType<typeof devEnv.TestPlc> | null = null;
  if (!externalPlcUrl) {
    const unbind = bindStart(PlcServer, host);
    ownPlc = await devEnv.TestPlc.create(state.plcPort ? { port: state.plcPort } : {}).finally(unbind);
  }
  const plcUrl = externalPlcUrl ?? ownPlc!.url;
  const plc = plcHttp(plcUrl);
  let timer: NodeJS.Timeout | null = null;
  try {
    if (ownPlc) state.plcPort = ownPlc.port;
    // The PLC keeps DIDs in memory only: give it the account's DID history again (signed,
    // so the same DID comes back with the same document).
    const replay = async (account: NonNullable<LocalPdsState['account']>) => {
      for (const op of account.plcLog) await plc.send(account.did, op);
    };
    if (state.account) await replay(state.account);
    const unbindPds = bindStart(PDS, host);
    const pds = await devEnv.TestPds.create({
      ...dirs,
      ...(state.port ? { port: state.port } : {}),
      didPlcUrl: plcUrl,
      jwtSecret: state.jwtSecret,
      adminPassword: state.adminPassword,
      plcRotationKeyK256PrivateKeyHex: state.plcRotationKeyHex,
    }).finally(unbindPds);
    devEnv.mockNetworkUtilities(pds);
    state.port = pds.port;
    if (!state.account) {
      const password = randomBytes(18).toString('base64url');
      const res = await pds.getClient().createAccount({ handle: HANDLE, email: 'relay@skein.invalid', password });
      state.account = { did: res.data.did, handle: HANDLE, password, plcLog: await plc.log(res.data.did) };
    }
    writeState(stateFile, state);
    const account = state.account;
    if (externalPlcUrl) {
      // That directory may restart and forget us: register again when it did.
      timer = setInterval(() => {
        void plc
          .has(account.did)
          .then((known) => (known ? undefined : replay(account)))
          .catch(() => {});
      }, REREGISTER_MS);
      timer.unref();
    }
    return {
      url: pds.url,
      did: account.did,
      handle: account.handle,
      password: account.password,
      plcUrl,
      close: async () => {
        if (timer) clearInterval(timer);
        await pds.close();
        await ownPlc?.close();
      },
    };
  } catch (err) {
    if (timer) clearInterval(timer);
    await ownPlc?.close().catch(() => {});
    throw err;
  }
}
