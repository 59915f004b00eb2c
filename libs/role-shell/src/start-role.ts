import { addressError, pathList, type RoleName, type Setting } from '@jobpipe/config';
import { createLogger, exitOnSignals, Metrics, startHealthServer, type LogFormat, type Logger } from '@jobpipe/observability';
import { loadPipeline, PipelineError, type Pipeline } from '@jobpipe/pipeline';
import { endpointError, type EndpointSetting } from '@jobpipe/transport';

/** What every role reads alike from its settings. */
export interface RoleShellConfig {
  readonly pipeline: string;
  readonly metricsPort: number;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  readonly logFormat: LogFormat;
}

/** What the shell makes before the role is built. */
export interface RoleParts {
  /** The first (with one module, the only) pipeline of `pipelines`. */
  readonly pipeline: Pipeline;
  /** Every pipeline the setting names (a comma-separated list of modules), in its order. */
  readonly pipelines: readonly Pipeline[];
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** A role as the shell runs it: the role's own object stays the builder's business. */
export interface RunnableRole {
  /** Binds and connects the role's sockets. */
  start(): void | Promise<void>;
  /** What /readyz answers. */
  ready(): boolean | Promise<boolean>;
  /** Stops the role and what it uses (intake, Redis) on a shutdown signal; the shell closes the health server after. */
  stop(): Promise<void>;
  /** The endpoint settings `start` binds or connects, so that a refused one is named. */
  readonly endpoints: readonly EndpointSetting[];
}

export interface RoleShellSpec<R extends RunnableRole> {
  readonly role: RoleName;
  readonly config: RoleShellConfig;
  /** The role's metrics-port setting, named when the port is refused. */
  readonly metricsPortSetting: Pick<Setting<unknown>, 'env' | 'flag'>;
  /** On every log line (the worker's id). */
  readonly logBindings?: Record<string, unknown>;
  /** On every metric series (the worker's id, for per-worker panels). */
  readonly metricLabels?: Record<string, string>;
  /** The malformed-message reasons the role counts: their series exist from the start, at 0. */
  readonly malformedReasons: readonly string[];
  /** How long a shutdown may take before the process exits anyway, in ms. @default 30000 */
  readonly stopGraceMs?: number;
  /** Builds the role from the parts the shell made. */
  build(parts: RoleParts): R | Promise<R>;
  /** Runs once the role has started and signals are handled (a wait for Redis stops cleanly); 'ready' is logged after it. */
  afterStart?(role: R): Promise<void>;
  /** More fields for the 'ready' log line, beside the pipeline and the metrics port. */
  readyFields?(role: R): Record<string, unknown>;
}

/**
 * The start-up every role process shares: logger, pipeline, metrics, the health server (/metrics,
 * /healthz, /readyz, served from the start so /readyz says 503 while the role waits), the role's
 * start, and a stop on SIGTERM/SIGINT. A port or endpoint this machine refuses is an AddressError
 * naming its setting (a one-line exit 2 from the CLI).
 */
export async function startRole<R extends RunnableRole>(spec: RoleShellSpec<R>): Promise<RoleParts & { role: R; metricsPort: number }> {
  const { config } = spec;
  const logger = createLogger(spec.role, config.logLevel, spec.logBindings ?? {}, config.logFormat);
  const pipelines = await loadPipelines(config.pipeline);
  const pipeline = pipelines[0]!;
  const names = pipelines.map((each) => each.name);
  const metrics = new Metrics();
  if (spec.metricLabels) metrics.registry.setDefaultLabels(spec.metricLabels);
  metrics.initialize(spec.role, names, spec.malformedReasons);
  const role = await spec.build({ pipeline, pipelines, logger, metrics });
  const health = await startHealthServer({ port: config.metricsPort, registry: metrics.registry, ready: () => role.ready() }).catch((error: unknown) => {
    throw addressError(error, spec.metricsPortSetting, `port ${config.metricsPort}`) ?? error;
  });
  try {
    await role.start();
  } catch (error) {
    await health.close();
    throw endpointError(error, role.endpoints);
  }
  exitOnSignals(
    async () => {
      await role.stop();
      await health.close();
    },
    logger,
    spec.stopGraceMs,
  );
  await spec.afterStart?.(role);
  logger.info(
    { ...(pipelines.length === 1 ? { pipeline: pipeline.name } : { pipelines: names }), metricsPort: health.port, ...spec.readyFields?.(role) },
    'ready',
  );
  return { pipeline, pipelines, logger, metrics, role, metricsPort: health.port };
}

/**
 * The pipelines of a JOBPIPE_PIPELINE value: one module path, or several separated by commas
 * (a role serving many pipelines). @throws PipelineError for a module that does not load, or two
 * pipelines of one name
 */
export async function loadPipelines(paths: string): Promise<Pipeline[]> {
  const list = pathList(paths);
  if (list.length === 0) throw new PipelineError(`no pipeline module in "${paths}": give a module path, or several separated by commas`);
  const pipelines: Pipeline[] = [];
  for (const path of list) {
    const pipeline = await loadPipeline(path);
    const twin = pipelines.find((each) => each.name === pipeline.name);
    if (twin)
      throw new PipelineError(`${path}: a second pipeline named ${pipeline.name} in JOBPIPE_PIPELINE; each pipeline a role serves needs a name of its own`);
    pipelines.push(pipeline);
  }
  return pipelines;
}
