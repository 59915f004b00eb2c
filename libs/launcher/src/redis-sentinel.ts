import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { pollUntil } from './poll.js';
import { RedisServer, redisCommand, type RespReply } from './redis-server.js';

export interface RedisSentinelSetOptions {
  /** The master name the Sentinels monitor (JOBPIPE_REDIS_SENTINEL_NAME). @default 'mymaster' */
  name?: string;
  /** How long a silent master takes to be down for a Sentinel. @default 1000 */
  downAfterMs?: number;
  /** Sentinel's failover-timeout (also the wait before a failed failover is tried again). @default 5000 */
  failoverTimeoutMs?: number;
}

interface SentinelProcess {
  port: number;
  child: ChildProcess;
  log: string;
}

/**
 * A master (AOF, fsync every second), one replica and three Sentinels (quorum 2), each on a free
 * loopback port: a Redis that fails over. What the tests use to make Redis forget: pause the
 * replica so it lags, kill the master, and the Sentinels promote the replica without the writes it
 * never received.
 */
export class RedisSentinelSet {
  readonly name: string;
  readonly dir: string;
  readonly #sentinels: SentinelProcess[] = [];
  #stopped = false;
  #paused = false;

  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly options: RedisSentinelSetOptions,
  ) {
    this.name = options.name ?? 'mymaster';
    this.dir = mkdtempSync(join(tmpdir(), 'jobpipe-sentinel-'));
  }

  /**
   * Starts the master, the replica (and waits until it has synced), then the Sentinels, and
   * returns once every Sentinel knows the replica and enough of the others to fail over.
   */
  static async start(options: RedisSentinelSetOptions = {}): Promise<RedisSentinelSet> {
    // Three tries: a port another process took after it was found free makes a process exit at start.
    for (let attempt = 1; ; attempt++) {
      try {
        return await RedisSentinelSet.#startOnce(options);
      } catch (error) {
        if (attempt >= 3 || !/exited at start|did not answer/.test((error as Error).message)) throw error;
      }
    }
  }

  static async #startOnce(options: RedisSentinelSetOptions): Promise<RedisSentinelSet> {
    const master = await RedisServer.start();
    let replica: RedisServer | undefined;
    try {
      replica = await RedisServer.start({ replicaOf: master.port });
      const set = new RedisSentinelSet(master, replica, options);
      try {
        await set.#start();
      } catch (error) {
        await set.stop();
        throw error;
      }
      return set;
    } catch (error) {
      if (replica === undefined) await master.stop();
      throw error;
    }
  }

  async #start(): Promise<void> {
    // Sentinels find replicas in the master's INFO, which they read every 10 s: a replica already
    // online at their first INFO is known at once.
    await this.master.waitForReplica();
    for (let i = 0; i < 3; i++) this.#sentinels.push(await this.#spawnSentinel(i));
    // Sentinels find each other through the master's hello channel (every 2 s); CKQUORUM says OK
    // once a majority can authorize a failover.
    await pollUntil('the Sentinels to know the replica and each other', 30_000, async () => {
      for (const sentinel of this.#sentinels) {
        const replicas = (await redisCommand(sentinel.port, ['SENTINEL', 'REPLICAS', this.name])) as RespReply[];
        if (!replicas.some((fields) => fieldsOf(fields).port === String(this.replica.port))) return false;
        await redisCommand(sentinel.port, ['SENTINEL', 'CKQUORUM', this.name]);
      }
      return true;
    });
  }

  async #spawnSentinel(index: number): Promise<SentinelProcess> {
    const port = await freePort();
    // Sentinel rewrites its config file as it learns (peers, epochs): it must be writable.
    const conf = join(this.dir, `sentinel-${index}.conf`);
    const log = join(this.dir, `sentinel-${index}.log`);
    const { name } = this;
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `logfile ${log}`,
        `sentinel monitor ${name} 127.0.0.1 ${this.master.port} 2`,
        `sentinel down-after-milliseconds ${name} ${this.options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${name} ${this.options.failoverTimeoutMs ?? 5000}`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel', '--daemonize', 'no'], { stdio: 'ignore' });
    const sentinel = { port, child, log };
    await pollUntil(`Sentinel ${index} on port ${port} to answer`, 10_000, async () => {
      if (child.exitCode !== null) throw new Error(`Sentinel ${index} on port ${port} exited at start`);
      return (await redisCommand(port, ['PING']).catch(() => '')) === 'PONG';
    });
    return sentinel;
  }

  /** The Sentinels as JOBPIPE_REDIS_SENTINELS takes them: `127.0.0.1:port,127.0.0.1:port,...`. */
  get sentinels(): string {
    return this.#sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** The same as ioredis's `sentinels` option. */
  get sentinelEndpoints(): { host: string; port: number }[] {
    return this.#sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  /**
   * SIGSTOP the replica, then have the master drop its link (CLIENT KILL TYPE replica): what the
   * master takes from now on never reaches the replica, which cannot reconnect while stopped.
   * Without the cut, the kernel's socket buffers (megabytes on loopback) would hand a stopped
   * replica everything once it resumes, even from a dead master. The cut also drops what those
   * buffers hold, so the replica is first let catch up: every write the master acknowledged
   * before this call is on the replica, and only later ones can be lost. (On a busy machine a
   * replica can be a second behind; those writes lost would be earlier than the fault says.)
   */
  async pauseReplica(): Promise<void> {
    await this.#replicaCaughtUp();
    if (this.replica.pid !== undefined) process.kill(this.replica.pid, 'SIGSTOP');
    this.#paused = true;
    await this.master.command(['CLIENT', 'KILL', 'TYPE', 'replica']);
  }

  /**
   * Waits until the replica has acknowledged the master's replication offset as of now. (WAIT
   * would not do: it waits only for the calling connection's own writes.) A replica acknowledges
   * once a second.
   */
  async #replicaCaughtUp(): Promise<void> {
    const offsetOf = (pattern: RegExp, info: RespReply) => Number(pattern.exec(String(info))?.[1] ?? -1);
    const target = offsetOf(/master_repl_offset:(\d+)/, await this.master.command(['INFO', 'replication']));
    await pollUntil('the replica to catch up with the master', 10_000, async () => {
      const acked = offsetOf(/slave0:[^\r\n]*offset=(\d+)/, await this.master.command(['INFO', 'replication']));
      return acked >= target || `replica at ${acked}, master at ${target}`;
    });
  }

  /** SIGCONT: the replica goes on, from wherever its connection to the master left it. */
  resumeReplica(): void {
    if (this.replica.pid !== undefined) process.kill(this.replica.pid, 'SIGCONT');
    this.#paused = false;
  }

  /** SIGKILL the master: a crash, nothing flushed, nothing handed over. */
  killMaster(): Promise<void> {
    return this.master.kill('SIGKILL');
  }

  /**
   * Starts the killed master again as the promoted replica's replica, from its own files: where
   * the Sentinels would take it, but at once (they turn a returning master into a replica only
   * at their next INFO of it, up to 10 s later).
   */
  restartMasterAsReplica(): Promise<void> {
    return this.master.startProcess(false, this.replica.port);
  }

  /** The master's address as each Sentinel reports it (`host:port`, or why not). */
  async masterAddresses(): Promise<string[]> {
    return Promise.all(
      this.#sentinels.map(async (s) => {
        try {
          const address = (await redisCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name], undefined, undefined, 2000)) as string[] | null;
          return address ? `${address[0]}:${address[1]}` : 'none';
        } catch (error) {
          return (error as Error).message;
        }
      }),
    );
  }

  /**
   * Waits until every Sentinel names the replica as the master and the replica says it is one
   * (ROLE): from then on clients that ask the Sentinels write to it.
   */
  async waitForFailover(timeoutMs = 30_000): Promise<void> {
    const promoted = `127.0.0.1:${this.replica.port}`;
    await pollUntil(`the Sentinels to promote the replica (${promoted})`, timeoutMs, async () => {
      const addresses = await this.masterAddresses();
      if (!addresses.every((address) => address === promoted)) return `sentinels say ${addresses.join(', ')}`;
      const role = (await this.replica.command(['ROLE'])) as RespReply[];
      return role[0] === 'master' || `the replica's ROLE is ${role[0]}`;
    });
  }

  /** The Sentinels' logs, for a failed test's report. */
  sentinelLogs(): string {
    return this.#sentinels.map((s, i) => `--- sentinel ${i} (port ${s.port})\n${readText(s.log)}`).join('\n');
  }

  /** Kills every process (a paused replica is resumed first, or it would never see SIGTERM) and deletes the directories. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#paused) this.resumeReplica();
    await Promise.all(
      this.#sentinels.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await Promise.all([this.master.stop(), this.replica.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills everything at once: for exit handlers, where nothing can be awaited. */
  killNow(): void {
    for (const { child } of this.#sentinels) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.master.killNow();
    this.replica.killNow();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Sentinel's flat [field, value, field, value...] reply as an object. */
function fieldsOf(reply: RespReply): Record<string, string> {
  const fields: Record<string, string> = {};
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
  return fields;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(no log)';
  }
}
