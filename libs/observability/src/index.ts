/**
 * What every jobpipe process exposes: JSON logs (pino), Prometheus metrics (prom-client), and one
 * HTTP port with /metrics, /healthz and /readyz.
 */
export { createLogger } from './logger.js';
export type { Logger, LogFormat } from './logger.js';
export { Metrics } from './metrics.js';
export { startHealthServer } from './http-server.js';
export type { HealthServerOptions } from './http-server.js';
export { exitOnSignals, settleWithin } from './shutdown.js';
export { parsePrometheusText, sumBy, metricValue } from './prometheus-text.js';
export type { Sample } from './prometheus-text.js';
export { leftOut, LogLimiter } from './log-limiter.js';
export { DroppedMessages } from './dropped-messages.js';
export {
  childSpan,
  formatTraceparent,
  JobSampler,
  jobSampled,
  parseTraceparent,
  randomSpanId,
  sampledParent,
  sampleThreshold,
  samplerSettings,
  SpanKind,
  startTracing,
  stopTracing,
  traceIdLow,
  traceparentOf,
  traceparentSampled,
  tracing,
  tracingWanted,
  otlpProtocol,
  TracingSettingError,
  tracingWith,
  TRACEPARENT_PATTERN,
} from './tracing.js';
export type { PackTrace, SamplerSettings, Span, SpanRecord, StartTracingOptions, Tracing } from './tracing.js';
export { ETA_WINDOW_MS, etaSeconds, jainIndex, ProgressRate } from './rates.js';
