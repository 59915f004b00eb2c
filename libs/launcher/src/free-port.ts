import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Where the OS takes the local ports of outgoing connections. A port from there, free a moment
 * ago, can be taken by any connect() before its listener binds it (even by a ZeroMQ socket
 * connecting to it, which then meets itself), so listening ports are picked below it.
 */
function ephemeralPortsStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768; // not Linux: Linux's default
  }
}

const lowestPort = 1024;
let ephemeralStart: number | undefined;

/**
 * Whether `port` can be listened on, and nobody is trying to connect to it. A connection that
 * comes while it listens (a ZeroMQ socket still reconnecting to a port a stopped role had) is
 * dropped at once, and the port taken as not free: left open, such a connection kept close()
 * from ever calling back, and a test waited for its stack for good.
 */
function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let contacted = false;
    const server = createServer((socket) => {
      contacted = true;
      socket.destroy();
    });
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(false) : reject(error)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(!contacted)));
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1, outside the OS's range for outgoing connections. */
export async function freePort(): Promise<number> {
  const end = (ephemeralStart ??= ephemeralPortsStart());
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = lowestPort + Math.floor(Math.random() * (end - lowestPort));
    if (await tryListen(port)) return port;
  }
  throw new Error(`no free TCP port found in ${lowestPort}-${end - 1} after 100 tries`);
}
