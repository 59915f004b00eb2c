import { common, redisSettings } from '@jobpipe/config';

/** Everything a sink reads from env and flags. */
export const sinkSettings = {
  pipeline: common.pipeline,
  resultsBind: common.resultsBind,
  eventsBind: common.eventsBind,
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  logFormat: common.logFormat,
  maxMessageBytes: common.maxMessageBytes,
  redisUrl: common.redisUrl,
  ...redisSettings,
  redisPrefix: common.redisPrefix,
};
