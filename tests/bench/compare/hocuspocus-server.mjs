// Hocuspocus with its default configuration (no extensions, in-memory).
// Prints one JSON line with its port, like the relay does.
import { Server } from '@hocuspocus/server';

const server = new Server({ port: 0, address: '127.0.0.1', quiet: true });
await server.listen();
console.log(JSON.stringify({ event: 'listening', port: server.address.port }));
