/** A real WebSocket pair on loopback, for tests that drive server parts in process. */
import WebSocket, { WebSocketServer } from 'ws';

/**
 * Opens a server on a free loopback port and connects a client to it. `cleanups` receives
 * what closes them (run it after the test).
 */
export async function loopbackSocket(cleanups: Array<() => Promise<void> | void>): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const accepted = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  cleanups.push(() => client.terminate());
  const [server] = await Promise.all([accepted, new Promise((r) => client.once('open', r))]);
  return { server, client };
}
