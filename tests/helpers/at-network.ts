/**
 * A real reference PDS (+ PLC directory) from @atproto/dev-env, in the test process.
 * Start it once per test file; the PDS can be stopped and started again on the same
 * port and data, which is what "the PDS goes away for a while" looks like to the relay.
 */
import { AtpAgent } from '@atproto/api';
import { TestNetworkNoAppView, TestPds, mockNetworkUtilities } from '@atproto/dev-env';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MESSAGE_NSID, type AtMessageRecord } from '../../shared/at-lexicon.ts';

export interface TestAccount {
  did: string;
  handle: string;
  password: string;
}

export interface RepoRecord {
  uri: string;
  cid: string;
  rkey: string;
  value: AtMessageRecord;
}

export class AtNetwork {
  private constructor(
    private readonly net: TestNetworkNoAppView,
    private readonly dirs: { dataDirectory: string; blobstoreDiskLocation: string },
  ) {}

  static async start(): Promise<AtNetwork> {
    const dirs = {
      dataDirectory: mkdtempSync(join(tmpdir(), 'skein-pds-')),
      blobstoreDiskLocation: mkdtempSync(join(tmpdir(), 'skein-blobs-')),
    };
    return new AtNetwork(await TestNetworkNoAppView.create({ pds: dirs }), dirs);
  }

  get url(): string {
    return this.net.pds.url;
  }
  get port(): number {
    return this.net.pds.port;
  }
  /** The PLC directory that resolves the accounts' DIDs. */
  get plcUrl(): string {
    return this.net.plc.url;
  }

  /** A logged-in agent of `account` (its own repo is writable). */
  async agent(account: TestAccount): Promise<AtpAgent> {
    const agent = new AtpAgent({ service: this.url });
    await agent.login({ identifier: account.handle, password: account.password });
    return agent;
  }

  /**
   * Writes records into `account`'s repo with one applyWrites per batch (one commit each);
   * the PDS does not validate an unknown lexicon, so hostile records go through as written.
   */
  async writeRecords(account: TestAccount, records: Array<{ collection?: string; rkey: string; value: Record<string, unknown> }>, batch = 10): Promise<void> {
    return this.write(await this.writer(account), account, records, batch, 'create');
  }

  /** Rewrites records of `account`'s repo (one `update` op each), `batch` per commit. */
  async updateRecords(account: TestAccount, records: Array<{ collection?: string; rkey: string; value: Record<string, unknown> }>, batch = 10): Promise<void> {
    return this.write(await this.writer(account), account, records, batch, 'update');
  }

  /** Deletes records of `account`'s repo (one `delete` op each), `batch` per commit. */
  async deleteRecords(account: TestAccount, rkeys: string[], batch = 10): Promise<void> {
    return this.write(await this.writer(account), account, rkeys.map((rkey) => ({ rkey })), batch, 'delete');
  }

  private writer(account: TestAccount): Promise<AtpAgent> {
    let agent = this.writers.get(account.did);
    if (!agent) this.writers.set(account.did, (agent = this.agent(account)));
    return agent;
  }

  private readonly writers = new Map<string, Promise<AtpAgent>>();

  private async write(
    agent: AtpAgent,
    account: TestAccount,
    records: Array<{ collection?: string; rkey: string; value?: Record<string, unknown> }>,
    batch: number,
    action: 'create' | 'update' | 'delete',
  ): Promise<void> {
    for (let i = 0; i < records.length; i += batch) {
      await agent.com.atproto.repo.applyWrites({
        repo: account.did,
        validate: false,
        writes: records.slice(i, i + batch).map((r) => {
          const collection = r.collection ?? MESSAGE_NSID;
          if (action === 'delete') return { $type: 'com.atproto.repo.applyWrites#delete' as const, collection, rkey: r.rkey };
          const value = { $type: collection, ...r.value };
          return action === 'create'
            ? { $type: 'com.atproto.repo.applyWrites#create' as const, collection, rkey: r.rkey, value }
            : { $type: 'com.atproto.repo.applyWrites#update' as const, collection, rkey: r.rkey, value };
        }),
      });
    }
  }

  private seq = 0;
  async createAccount(name: string): Promise<TestAccount> {
    const handle = `${name}${++this.seq}.test`;
    const password = `pw-${name}-${this.seq}-secret`;
    const res = await this.net.pds.getClient().createAccount({ handle, email: `${name}${this.seq}@example.com`, password });
    return { did: res.data.did, handle, password };
  }

  /** All Skein message records in `did`'s repo (public read, no auth). */
  async listRecords(did: string): Promise<RepoRecord[]> {
    const agent = new AtpAgent({ service: this.url });
    const out: RepoRecord[] = [];
    let cursor: string | undefined;
    do {
      const res = await agent.com.atproto.repo.listRecords({ repo: did, collection: MESSAGE_NSID, limit: 100, cursor });
      for (const r of res.data.records) {
        out.push({ uri: r.uri, cid: r.cid, rkey: r.uri.split('/').pop()!, value: r.value as unknown as AtMessageRecord });
      }
      cursor = res.data.records.length === 100 ? res.data.cursor : undefined;
    } while (cursor);
    return out;
  }

  /** Stops the PDS (its port refuses connections until `startPds`). */
  async stopPds(): Promise<void> {
    await this.net.pds.close();
  }

  /** Starts the PDS again on the same port, data and PLC directory. */
  async startPds(): Promise<void> {
    this.writers.clear(); // sessions of the stopped PDS
    this.net.pds = await TestPds.create({ didPlcUrl: this.net.plc.url, port: this.port, ...this.dirs });
    mockNetworkUtilities(this.net.pds);
  }

  async close(): Promise<void> {
    await this.net.close();
  }
}
