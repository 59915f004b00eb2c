import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { pollUntil } from './poll.js';

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
  /** Start as a replica of the redis-server on this loopback port (`replicaof`): RedisSentinelSet's replica. */
  replicaOf?: number;
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
  #snapshots = 0;
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

  /**
   * Starts redis-server again on the same port and directory (after `kill`), reloading its AOF.
   * `fromRdb`: load dump.rdb instead (Redis 7 with AOF on ignores an RDB when it finds no AOF),
   * then turn the AOF on again, which rewrites it from what was loaded. `replicaOf`: start as a
   * replica of that port (a master that died coming back as its successor's replica).
   */
  async startProcess(fromRdb = false, replicaOf = this.options.replicaOf): Promise<void> {
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
      // A replica that connects gets its copy at once: by default a master waits 5 s for more
      // replicas to share the transfer, and a server here has one at most.
      '--repl-diskless-sync-delay',
      '0',
    ];
    const appendOnly = this.options.appendOnly ?? true;
    if (appendOnly && !fromRdb) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
    if (this.options.password) args.push('--requirepass', this.options.password);
    if (replicaOf !== undefined) {
      args.push('--replicaof', '127.0.0.1', String(replicaOf));
      if (this.options.password) args.push('--masterauth', this.options.password);
    }
    this.#child = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(this.port, this.options.password, tls))) {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (fromRdb && appendOnly) {
      await this.command(['CONFIG', 'SET', 'appendfsync', 'everysec']);
      await this.command(['CONFIG', 'SET', 'appendonly', 'yes']);
      // The AOF holds nothing until this first rewrite ends: a crash before it would load empty.
      await pollUntil(
        `redis-server on port ${this.port} to write its AOF`,
        30_000,
        async () => !/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(String(await this.command(['INFO', 'persistence']))),
        50,
      );
    }
  }

  /** Waits until a replica of this server is online, in sync: before that a WAIT for it runs out. */
  waitForReplica(timeoutMs = 15_000): Promise<void> {
    return pollUntil(
      `a replica of port ${this.port} to sync`,
      timeoutMs,
      async () => /slave0:.*state=online/.test(String(await this.command(['INFO', 'replication']))),
      50,
    );
  }

  /** Sends one command and returns its reply (an error reply rejects): for the few the launcher needs. */
  command(args: string[]): Promise<RespReply> {
    return redisCommand(this.port, args, this.options.password, this.options.tls);
  }

  /**
   * Writes the whole dataset to an RDB file now (SAVE) and keeps a copy aside: a backup taken at
   * this moment, for `restartFrom`. Returns the copy's path (inside `dir`).
   */
  async snapshot(): Promise<string> {
    await this.command(['SAVE']);
    const path = join(this.dir, `snapshot-${++this.#snapshots}.rdb`);
    copyFileSync(join(this.dir, 'dump.rdb'), path);
    return path;
  }

  /**
   * SIGKILLs the server and starts it again, same port, from `snapshot` alone: its AOF is deleted,
   * so every write acknowledged after the snapshot is gone (a Redis restored from an old backup).
   */
  async restartFrom(snapshot: string): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    copyFileSync(snapshot, join(this.dir, 'dump.rdb'));
    await this.startProcess(true);
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

/** A Redis reply as ioredis gives it: a string, an integer, null, or an array of those. */
export type RespReply = string | number | null | RespReply[];

/** One command on a connection of its own, closed after the reply: for the few the launcher needs. */
export async function redisCommand(port: number, args: string[], password?: string, tls?: RedisServerTls, timeoutMs = 10_000): Promise<RespReply> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    ...(password ? { password } : {}),
    ...(tls ? { tls: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), rejectUnauthorized: false } } : {}),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // A refused or dropped connection rejects the call below; unhandled, ioredis would print it too.
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.call(args[0]!, ...args.slice(1))) as RespReply;
  } catch (error) {
    throw new Error(`${args[0]} on port ${port}: ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}

/**
 * Whether the server answers PING: LOADING, an auth error or no answer in 500 ms is not ready.
 * Over TLS it presents the server's own certificate (signed by the CA the server trusts) and
 * checks nothing: it only asks whether the server is up.
 */
async function answersPing(port: number, password?: string, tls?: RedisServerTls): Promise<boolean> {
  return (await redisCommand(port, ['PING'], password, tls, 500).catch(() => null)) === 'PONG';
}
