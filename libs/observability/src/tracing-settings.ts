/**
 * What the standard OpenTelemetry variables ask of jobpipe's tracing: whether it is on, the
 * sampler, the OTLP protocol. Read by the roles (tracing.ts) and by the export thread.
 */
import { JobpipeError } from '@jobpipe/protocol/errors';

/** A standard OpenTelemetry variable jobpipe cannot apply: the CLI prints its message as one line and exits 2, as for a setting of its own. */
export class TracingSettingError extends JobpipeError {
  override name = 'TracingSettingError';
}

/** What `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` ask for, as jobpipe applies it. */
export interface SamplerSettings {
  /** The share of jobs (and of root traces) sampled, 0 to 1. */
  ratio: number;
  /** Whether an unsampled parent (a submitter's traceparent without the sampled flag) leaves its jobs unsampled. */
  parentBased: boolean;
}

/**
 * Reads the standard sampler variables. Unset is the standard's default, `parentbased_always_on`;
 * `parentbased_traceidratio` with a small ratio is what a busy pipeline wants. An unknown sampler
 * name, or a ratio outside 0 to 1, throws (a setting error, as jobpipe's own).
 */
export function samplerSettings(env: NodeJS.ProcessEnv = process.env): SamplerSettings {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  const arg = env.OTEL_TRACES_SAMPLER_ARG;
  const ratioArg = (): number => {
    if (arg === undefined || arg.trim() === '') return 1;
    const ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1)
      throw new TracingSettingError(`invalid OTEL_TRACES_SAMPLER_ARG: ${JSON.stringify(arg)} is not a ratio from 0 to 1`);
    return ratio;
  };
  // The six standard names: always_on, always_off or traceidratio, each alone or parentbased_.
  const parentBased = name.startsWith('parentbased_');
  const root = parentBased ? name.slice('parentbased_'.length) : name;
  if (root === 'always_on') return { ratio: 1, parentBased };
  if (root === 'always_off') return { ratio: 0, parentBased };
  if (root === 'traceidratio') return { ratio: ratioArg(), parentBased };
  throw new TracingSettingError(
    `invalid OTEL_TRACES_SAMPLER: ${JSON.stringify(env.OTEL_TRACES_SAMPLER)} (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)`,
  );
}

/**
 * The OTLP protocol the traces go out in: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
 * `OTEL_EXPORTER_OTLP_PROTOCOL`, else the standard's default, `http/protobuf` (a third of JSON's
 * bytes, and less of the export thread's CPU: docs/benchmarks.md, twenty-first pass). `grpc` (no
 * exporter for it here) and anything else throw, as a bad setting of jobpipe's own does.
 */
export function otlpProtocol(env: NodeJS.ProcessEnv = process.env): 'http/protobuf' | 'http/json' {
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env[variable] ?? '').trim().toLowerCase() || 'http/protobuf';
  if (protocol === 'http/protobuf' || protocol === 'http/json') return protocol;
  throw new TracingSettingError(`invalid ${variable}: ${JSON.stringify(env[variable])} (jobpipe exports traces over http/protobuf or http/json)`);
}

/** The export thread's nice value unless `JOBPIPE_TRACE_EXPORT_NICE` says otherwise. */
const DEFAULT_EXPORT_NICE = 10;

/**
 * The nice value the export thread runs at: `JOBPIPE_TRACE_EXPORT_NICE`, a whole number from 0
 * (as the role's other threads) to 19, 10 when unset. Anything else throws, as a bad setting of
 * jobpipe's own does.
 */
export function exportNice(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.JOBPIPE_TRACE_EXPORT_NICE;
  if (text === undefined || text.trim() === '') return DEFAULT_EXPORT_NICE;
  const nice = Number(text);
  if (!Number.isInteger(nice) || nice < 0 || nice > 19)
    throw new TracingSettingError(`invalid JOBPIPE_TRACE_EXPORT_NICE: ${JSON.stringify(text)} is not a whole number from 0 to 19`);
  return nice;
}

/** Whether the environment turns tracing on: an OTLP endpoint is configured, and `OTEL_SDK_DISABLED` is not true. */
export function tracingWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}
