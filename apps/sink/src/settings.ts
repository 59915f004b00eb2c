import { common, redisSettings, replicationSettings } from '@jobpipe/config';
import { sinkCurveSettings } from '@jobpipe/transport';

/** Everything a sink reads from env and flags. */
export const sinkSettings = {
  pipeline: common.pipeline,
  resultsBind: common.resultsBind,
  eventsBind: common.eventsBind,
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  logFormat: common.logFormat,
  maxMessageBytes: common.maxMessageBytes,
  ...sinkCurveSettings,
  redisUrl: common.redisUrl,
  ...redisSettings,
  ...replicationSettings,
  redisPrefix: common.redisPrefix,
  retention: common.retention,
  deadRetention: common.deadRetention,
};
