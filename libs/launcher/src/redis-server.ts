import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { freePort } from './free-port.js';

/** True when a `redis-server` binary is on PATH. */
export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisServerOptions {
  /** Append-only file with fsync every second: survives a kill and a restart. @default true */
  appendOnly?: boolean;
  /**
   * Required password (`requirepass`) of the default user. `url` then carries it, so that callers
   * which only pass `url` on keep working; never print it.
   */
  password?: string;
  /** Serve TLS only (no plain port): `url` is then `rediss://`, on `port`. */
  tls?: RedisServerTls;
}

/** PEM files for a redis-server that speaks TLS only. */
export interface RedisServerTls {
  certFile: string;
  keyFile: string;
  /** CA that signed the clients' certificates (redis-server wants one even when it asks for none). */
  caFile: string;
  /** Require a client certificate signed by `caFile` (`tls-auth-clients`). @default false */
  requireClientCertificates?: boolean;
}

/**
 * A redis-server of our own, on a free port in a temporary directory: what the demo, the chaos
 * harness and the tests use, so they never touch a Redis they did not start.
 */
export class RedisServer {
  #child: ChildProcess | undefined;
  readonly dir: string;

  private constructor(
    readonly port: number,
    readonly options: RedisServerOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'jobpipe-redis-'));
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.startProcess();
    return server;
  }

  /** `redis://` (or `rediss://` with `tls`) on loopback, with the password if there is one. */
  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `${this.options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${this.port}`;
  }

  /** The server's process id while it runs (benchmarks read its CPU time from /proc). */
  get pid(): number | undefined {
    return this.running ? this.#child!.pid : undefined;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts redis-server again on the same port and directory (after `kill`), reloading its AOF. */
  async startProcess(): Promise<void> {
    const tls = this.options.tls;
    const listen = tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(this.port),
          '--tls-cert-file',
          tls.certFile,
          '--tls-key-file',
          tls.keyFile,
          '--tls-ca-cert-file',
          tls.caFile,
          '--tls-auth-clients',
          tls.requireClientCertificates ? 'yes' : 'no',
        ]
      : ['--port', String(this.port)];
    const args = [
      ...listen,
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    if (this.options.appendOnly ?? true) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
    if (this.options.password) args.push('--requirepass', this.options.password);
    this.#child = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(this.port, this.options.password, tls))) {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the server (SIGKILL by default: a crash) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Kills the server and deletes its directory at once: for exit handlers, where nothing can be awaited. */
  killNow(): void {
    if (this.running) this.#child!.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops the server and deletes its directory. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * PING over a raw socket, so this module needs no Redis client. Over TLS it presents the server's
 * own certificate (signed by the CA the server trusts) and checks nothing: it only asks whether
 * the server is up.
 */
function answersPing(port: number, password?: string, tls?: RedisServerTls): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), rejectUnauthorized: false })
      : createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    // AUTH as a RESP array: a password may hold spaces, which the inline form would split.
    const auth = password ? `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n` : '';
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write(`${auth}PING\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('+PONG')) done(true);
      else if (reply.includes('-')) done(false); // LOADING or an auth error: not ready
    });
  });
}
