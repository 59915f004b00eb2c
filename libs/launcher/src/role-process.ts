import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export type Role = 'ventilator' | 'worker' | 'sink' | 'console';

export interface RoleProcessOptions {
  role: Role;
  /** How to run the jobpipe CLI, e.g. `[process.execPath, '/path/to/cli/dist/main.js']`. */
  command: string[];
  /** Environment on top of the parent's. */
  env?: Record<string, string | undefined>;
  /** The process's JOBPIPE_METRICS_PORT: readiness is its /readyz answering 200. */
  metricsPort: number;
  /** A name for messages; defaults to the role. */
  name?: string;
  /** Called with every log line the process prints. */
  onLine?: (line: string, parsed: LogLine | undefined) => void;
  /** How many log lines to keep for `lines`. @default 10000 */
  keepLines?: number;
  /** How long `ready` waits before it rejects (the process keeps running). @default 60000 */
  readyTimeoutMs?: number;
}

/** How long one readiness request may take before it is made again. */
const READY_REQUEST_MS = 2000;

/** One parsed JSON log line (pino). */
export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** One jobpipe role running as its own OS process, with its log lines parsed as they come. */
export class RoleProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly lines: string[] = [];
  /** Resolves once /readyz answers 200; rejects if the process exits first. */
  readonly ready: Promise<void>;
  readonly metricsPort: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';

  constructor(readonly options: RoleProcessOptions) {
    this.name = options.name ?? options.role;
    this.metricsPort = options.metricsPort;
    const [executable, ...args] = options.command;
    this.child = spawn(executable!, [...args, options.role], {
      env: { ...process.env, ...options.env, JOBPIPE_METRICS_PORT: String(options.metricsPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // 'close', not 'exit': by then its output has been read to the end.
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-10_000);
    });
    const keep = options.keepLines ?? 10_000;
    this.ready = this.#pollReady();
    this.ready.catch(() => {});
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      if (this.lines.length > keep) this.lines.splice(0, this.lines.length - keep);
      options.onLine?.(line, parseLogLine(line));
    });
  }

  /** The URL of one of the process's HTTP paths (/metrics, /healthz, /readyz). */
  url(path: string): string {
    return `http://127.0.0.1:${this.metricsPort}${path}`;
  }

  async #pollReady(): Promise<void> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    const timeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (!exited) {
      if (Date.now() > deadline) throw new Error(`${this.name} (pid ${this.child.pid}) was not ready after ${timeoutMs / 1000} s; /readyz: ${last}`);
      try {
        // Bounded: a request that never gets an answer (a port that another process took in the
        // meantime, a process that stopped answering) is given up and made again, and the loop
        // still sees the process exit. Unbounded, one such request hung a test for 60 s.
        const response = await fetch(this.url('/readyz'), { signal: AbortSignal.timeout(READY_REQUEST_MS) });
        if (response.status === 200) return;
        last = `status ${response.status}`;
      } catch (error) {
        // not listening yet, or no answer in time
        last = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { code, signal } = await this.exited;
    throw new Error(`${this.name} exited (code ${code}, signal ${signal}) before it was ready: ${this.#stderr.trim() || this.lines.slice(-3).join('\n')}`);
  }

  /**
   * The text of one of the process's HTTP paths. A failed connection is tried once more: a GET
   * may meet a kept-alive socket the server closed a moment before (its 5 s keep-alive timeout
   * and the client's idle timer race), which says nothing about the process.
   */
  async fetchText(path: string, timeoutMs = 5000): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(this.url(path), { signal: AbortSignal.timeout(timeoutMs) });
        return await response.text();
      } catch (error) {
        if (attempt < 2 && this.running) continue;
        const cause = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
        throw new Error(`${this.name} (${this.running ? 'running' : 'exited'}): GET ${path} failed: ${cause}`);
      }
    }
  }

  /** The process's peak resident memory so far (VmHWM), in MB; Linux only. */
  peakRssMb(): number {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Log lines parsed as JSON, optionally only those with this message. */
  logs(msg?: string): LogLine[] {
    const parsed = this.lines.map(parseLogLine).filter((line): line is LogLine => line !== undefined);
    return msg === undefined ? parsed : parsed.filter((line) => line.msg === msg);
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      const { code } = await this.exited;
      clearTimeout(timer);
      return code;
    }
    return (await this.exited).code;
  }
}

function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
}
