/**
 * A TCP proxy a test controls, between one relay process and a shared service (PostgreSQL,
 * Redis): `cut()` drops every connection and refuses new ones (the service looks down to
 * that relay only), `restore()` lets connections through again, `stall()` stops moving bytes
 * without closing anything (the service looks slow, the connections stay up), `resume()`.
 * Other tests on the same service are not disturbed. `retarget()` sends new connections
 * elsewhere: a load balancer whose backend died.
 */
import { type Server, type Socket, createServer, connect } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Closes every open connection and refuses new ones until `restore()`. */
  cut(): void;
  restore(): void;
  /** Stops forwarding in both directions (nothing is closed or lost) until `resume()`. */
  stall(): void;
  resume(): void;
  /** New connections go to `port` from now on (open ones stay where they are). */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let cut = false;
  let stalled = false;
  let target = targetPort;
  const server: Server = createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = connect(target, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
      if (stalled) s.pause();
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut() {
      cut = true;
      for (const pair of [...pairs]) for (const s of pair) s.destroy();
      pairs.clear();
    },
    restore() {
      cut = false;
    },
    stall() {
      stalled = true;
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    resume() {
      stalled = false;
      for (const pair of pairs) for (const s of pair) s.resume();
    },
    retarget(port) {
      target = port;
    },
    async close() {
      cut = true;
      for (const pair of pairs) for (const s of pair) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
