import { common, redisSettings } from '@jobpipe/config';
import { curveServerSettings } from '@jobpipe/transport';

/** Everything a sink reads from env and flags. */
export const sinkSettings = {
  pipeline: common.pipeline,
  resultsBind: common.resultsBind,
  eventsBind: common.eventsBind,
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  logFormat: common.logFormat,
  maxMessageBytes: common.maxMessageBytes,
  ...curveServerSettings,
  redisUrl: common.redisUrl,
  ...redisSettings,
  redisPrefix: common.redisPrefix,
  retention: common.retention,
  deadRetention: common.deadRetention,
};
