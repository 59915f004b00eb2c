/**
 * Configuration from `JOBPIPE_*` environment variables with CLI flags on top, validated at start.
 *
 * ```ts
 * import { loadConfig, common } from '@jobpipe/config';
 * const config = loadConfig({ pipeline: common.pipeline, metricsPort: common.metricsPort });
 * ```
 */
export { loadConfig, settingsTable, defaultText, ConfigError } from './load-config.js';
export { AddressError, addressError, checkSetting, settingName } from './errors.js';
export { checkOptions, defaultsOf, definedOnly, option, OptionError } from './options.js';
export type { OptionRule, RoleName } from './options.js';
export type { SettingsSpec, ConfigOf } from './load-config.js';
export {
  setting,
  integer,
  port,
  endpoint,
  existingFile,
  existingFiles,
  pathList,
  readTextFile,
  oneOf,
  nonEmpty,
  json,
  boolean,
  redisUrl,
  keyPrefix,
  duration,
  formatDuration,
} from './settings.js';
export type { Setting } from './settings.js';
export { valueOrFile, eitherOf } from './value-or-file.js';
export type { ValueOrFile } from './value-or-file.js';
export { common, retention, DEFAULT_RETENTION_MS, DEFAULT_DEAD_RETENTION_MS } from './common-settings.js';
export {
  redisSettings,
  redisConnectionFrom,
  replicationSettings,
  replicationFrom,
  Secret,
  secret,
  secretFile,
  certificateFile,
  privateKeyFile,
  sentinelList,
  clusterNodeList,
} from './redis-settings.js';
export type { RedisConfig, RedisConnectionSettings, RedisEndpoint } from './redis-settings.js';
