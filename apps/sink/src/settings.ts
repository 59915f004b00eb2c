import { common } from '@jobpipe/config';

/** Everything a sink reads from env and flags. */
export const sinkSettings = {
  pipeline: common.pipeline,
  resultsBind: common.resultsBind,
  eventsBind: common.eventsBind,
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  maxMessageBytes: common.maxMessageBytes,
  redisUrl: common.redisUrl,
  redisPrefix: common.redisPrefix,
};
