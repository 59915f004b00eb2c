import { freePort } from './free-port.js';
import { RoleProcess, type RoleProcessOptions } from './role-process.js';

export interface StackOptions {
  /** How to run the jobpipe CLI, e.g. `[process.execPath, '/path/to/cli/dist/main.js']`. */
  command: string[];
  /** Path of the pipeline module every role loads. */
  pipeline: string;
  workers: number;
  /** Environment for every role. */
  env?: Record<string, string>;
  /** Extra environment for worker `index` (0-based). */
  workerEnv?: (index: number) => Record<string, string>;
  /** Extra environment for the ventilator, e.g. JOBPIPE_INPUT. */
  ventilatorEnv?: Record<string, string>;
  onLine?: RoleProcessOptions['onLine'];
  /** Start the ventilator too. @default true */
  startVentilator?: boolean;
}

/** The endpoints a stack on loopback uses, on ports that were free. */
export interface StackEndpoints {
  jobsPort: number;
  resultsPort: number;
  eventsPort: number;
  jobsConnect: string;
  resultsConnect: string;
  eventsConnect: string;
}

/** Ventilator, sink and N workers as separate OS processes on loopback. */
export class Stack {
  sink!: RoleProcess;
  ventilator: RoleProcess | undefined;
  readonly workers: RoleProcess[] = [];
  #stopping = false;
  #workerCount = 0;

  private constructor(
    readonly options: StackOptions,
    readonly endpoints: StackEndpoints,
  ) {}

  /** Starts the sink, the workers and the ventilator, and waits until each logs 'ready'. */
  static async start(options: StackOptions): Promise<Stack> {
    const [jobsPort, resultsPort, eventsPort] = [await freePort(), await freePort(), await freePort()];
    const endpoints: StackEndpoints = {
      jobsPort: jobsPort!,
      resultsPort: resultsPort!,
      eventsPort: eventsPort!,
      jobsConnect: `tcp://127.0.0.1:${jobsPort}`,
      resultsConnect: `tcp://127.0.0.1:${resultsPort}`,
      eventsConnect: `tcp://127.0.0.1:${eventsPort}`,
    };
    const stack = new Stack(options, endpoints);
    try {
      stack.sink = await stack.spawn('sink');
      await stack.sink.ready;
      for (let i = 0; i < options.workers; i++) await stack.addWorker();
      await Promise.all(stack.workers.map((worker) => worker.ready));
      if (options.startVentilator ?? true) await stack.startVentilator();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Environment shared by every role of this stack. */
  get env(): Record<string, string> {
    const { endpoints: e } = this;
    return {
      JOBPIPE_PIPELINE: this.options.pipeline,
      JOBPIPE_JOBS_BIND: `tcp://127.0.0.1:${e.jobsPort}`,
      JOBPIPE_JOBS_CONNECT: e.jobsConnect,
      JOBPIPE_RESULTS_BIND: `tcp://127.0.0.1:${e.resultsPort}`,
      JOBPIPE_RESULTS_CONNECT: e.resultsConnect,
      JOBPIPE_EVENTS_BIND: `tcp://127.0.0.1:${e.eventsPort}`,
      JOBPIPE_EVENTS_CONNECT: e.eventsConnect,
      ...this.options.env,
    };
  }

  async spawn(role: RoleProcessOptions['role'], extraEnv: Record<string, string> = {}, name?: string): Promise<RoleProcess> {
    const options: RoleProcessOptions = {
      role,
      command: this.options.command,
      env: { ...this.env, ...extraEnv },
      name: name ?? role,
      metricsPort: await freePort(),
    };
    if (this.options.onLine) options.onLine = this.options.onLine;
    return new RoleProcess(options);
  }

  /** Starts one more worker (named worker-N, which is also its JOBPIPE_WORKER_ID unless given). */
  async addWorker(extraEnv: Record<string, string> = {}): Promise<RoleProcess> {
    // The index is taken before any await, so concurrent calls get distinct names.
    const index = this.#workerCount++;
    const name = `worker-${index + 1}`;
    const worker = await this.spawn('worker', { JOBPIPE_WORKER_ID: name, ...this.options.workerEnv?.(index), ...extraEnv }, name);
    this.workers[index] = worker;
    return worker;
  }

  async startVentilator(extraEnv: Record<string, string> = {}): Promise<RoleProcess> {
    this.ventilator = await this.spawn('ventilator', { ...this.options.ventilatorEnv, ...extraEnv });
    await this.ventilator.ready;
    return this.ventilator;
  }

  get processes(): RoleProcess[] {
    return [...(this.ventilator ? [this.ventilator] : []), ...this.workers.filter(Boolean), ...(this.sink ? [this.sink] : [])];
  }

  /**
   * SIGTERM to all: workers first, while the ventilator is there to answer their Drain; then the
   * ventilator; the sink last, so it gets the workers' final results.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await Promise.all(this.workers.filter(Boolean).map((worker) => worker.stop()));
    await this.ventilator?.stop();
    await this.sink?.stop();
  }

  /** Kills every process at once: for exit handlers, where nothing can be awaited. */
  killNow(): void {
    for (const process of this.processes) if (process.running) process.child.kill('SIGKILL');
  }
}
