import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/**
 * Ports fetch refuses to connect to (the Fetch standard's "bad ports" in this range): a role's
 * /readyz there can never be read, and its readiness is waited for in vain.
 */
const FETCH_BAD_PORTS = new Set([1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

/** Where the ports handed out are reserved, one file per port holding the owner's pid. */
const RESERVATIONS = join(tmpdir(), 'jobpipe-reserved-ports');
const reservedHere = new Set<number>();

/**
 * Reserves `port` for this process, across processes. A port is often handed out long before it
 * is bound (a stack's jobs port waits for its ventilator, which may start later), and test files
 * run in parallel processes: without the reservation another one found the same port free
 * meanwhile and bound it first ("in use by another process"). A reservation whose process is
 * gone is taken over. They are released when this process exits.
 */
function reserve(port: number): boolean {
  if (reservedHere.has(port)) return false;
  mkdirSync(RESERVATIONS, { recursive: true });
  const path = join(RESERVATIONS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      if (reservedHere.size === 0) process.once('exit', releaseAll);
      reservedHere.add(port);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || ownerAlive(path)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

function ownerAlive(path: string): boolean {
  const pid = Number(readFileSync(path, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseAll(): void {
  for (const port of reservedHere) rmSync(join(RESERVATIONS, String(port)), { force: true });
  reservedHere.clear();
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1, outside the OS's range for outgoing
 * connections, that fetch can reach, and that no other process of ours was handed.
 */
export async function freePort(): Promise<number> {
  const end = (ephemeralStart ??= ephemeralPortsStart());
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = lowestPort + Math.floor(Math.random() * (end - lowestPort));
    if (FETCH_BAD_PORTS.has(port) || reservedHere.has(port)) continue;
    if ((await tryListen(port)) && reserve(port)) return port;
  }
  throw new Error(`no free TCP port found in ${lowestPort}-${end - 1} after 100 tries`);
}
