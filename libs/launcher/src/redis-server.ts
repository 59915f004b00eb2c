import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
   * then turn the AOF on again, which rewrites it from what was loaded.
   */
  async startProcess(fromRdb = false): Promise<void> {
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
    const appendOnly = this.options.appendOnly ?? true;
    if (appendOnly && !fromRdb) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
    if (this.options.password) args.push('--requirepass', this.options.password);
    if (this.options.replicaOf !== undefined) {
      args.push('--replicaof', '127.0.0.1', String(this.options.replicaOf));
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
      const deadline = Date.now() + 30_000;
      while (/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(String(await this.command(['INFO', 'persistence'])))) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not write its AOF within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
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

/** A RESP reply: a simple or bulk string, an integer, null, or an array of those. */
export type RespReply = string | number | null | RespReply[];

/**
 * Parses one RESP2 reply from `text` (bytes as latin1, so lengths count bytes) at `at`; undefined
 * while incomplete. An error reply comes back as an Error.
 */
function parseReply(text: string, at: number): { value: RespReply | Error; end: number } | undefined {
  const lineEnd = text.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const head = text.slice(at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (text[at]) {
    case '+':
      return { value: head, end: next };
    case '-':
      return { value: new Error(head), end: next };
    case ':':
      return { value: Number(head), end: next };
    case '$': {
      const length = Number(head);
      if (length < 0) return { value: null, end: next };
      if (text.length < next + length + 2) return undefined;
      return { value: Buffer.from(text.slice(next, next + length), 'latin1').toString(), end: next + length + 2 };
    }
    case '*': {
      const count = Number(head);
      if (count < 0) return { value: null, end: next };
      const items: RespReply[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(text, end);
        if (!item) return undefined;
        if (item.value instanceof Error) return item;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      return { value: new Error(`unexpected reply ${JSON.stringify(text.slice(at, at + 20))}`), end: text.length };
  }
}

/** One command over a raw socket (AUTH first with a password), so this module needs no Redis client. */
export function redisCommand(port: number, args: string[], password?: string, tls?: RedisServerTls, timeoutMs = 10_000): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), rejectUnauthorized: false })
      : createConnection({ port, host: '127.0.0.1' });
    const encode = (words: string[]) => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
    let reply = '';
    let pending = password ? 2 : 1;
    let settled = false;
    const done = (error: Error | undefined, value?: RespReply) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`${args[0]} on port ${port}: no answer within ${timeoutMs} ms`)));
    socket.once('error', (error) => done(error));
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write((password ? encode(['AUTH', password]) : '') + encode(args)));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      for (let parsed = parseReply(reply, 0); parsed; parsed = parseReply(reply, 0)) {
        reply = reply.slice(parsed.end);
        if (parsed.value instanceof Error) return done(new Error(`${args[0]} on port ${port}: ${parsed.value.message}`));
        if (--pending === 0) return done(undefined, parsed.value);
      }
    });
    socket.once('close', () => done(new Error(`${args[0]} on port ${port}: connection closed before the reply`)));
  });
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
