import { common, redisSettings, replicationSettings } from '@jobpipe/config';
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
  ...replicationSettings,
  redisPrefix: common.redisPrefix,
  retention: common.retention,
  deadRetention: common.deadRetention,
};
