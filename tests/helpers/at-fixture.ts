/**
 * The setup an AT test file shares: one dev-env PDS + PLC for the file, and the relays and
 * clients its tests start, all stopped after the file.
 */
import { afterAll, beforeAll } from 'vitest';
import { AtNetwork } from './at-network.ts';
import type { RelayProcess } from './relay-process.ts';
import type { TestClient } from './y-client.ts';

export interface AtFixture {
  /** The network (available from beforeAll on). */
  readonly net: AtNetwork;
  readonly relays: RelayProcess[];
  readonly clients: TestClient[];
}

export function useAtNetwork(): AtFixture {
  let net: AtNetwork | undefined;
  const f: AtFixture = {
    get net() {
      if (!net) throw new Error('the AT network starts in beforeAll');
      return net;
    },
    relays: [],
    clients: [],
  };
  beforeAll(async () => {
    net = await AtNetwork.start();
  });
  afterAll(async () => {
    f.clients.forEach((c) => c.destroy());
    await Promise.all(f.relays.map((r) => r.stop()));
    await net?.close();
  });
  return f;
}
