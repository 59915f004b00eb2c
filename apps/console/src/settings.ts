import { common, integer, port, redisSettings, redisUrl, setting, valueOrFile } from '@jobpipe/config';
import { curveClientSettings } from '@jobpipe/transport';
import { parseTokens } from './tokens.js';

const adminTokens = valueOrFile(
  'JOBPIPE_CONSOLE_ADMIN_TOKENS',
  'console-admin-tokens',
  'console: bearer tokens that may do everything (16-200 characters each, separated by commas or lines; text after a token and a space is a note)',
  parseTokens,
);
const readTokens = valueOrFile(
  'JOBPIPE_CONSOLE_READ_TOKENS',
  'console-read-tokens',
  'console: bearer tokens that may only read (GET), in the same form',
  parseTokens,
);

export const tokenSettings = { adminTokens, readTokens };

/** Everything the console reads from env and flags. */
export const consoleSettings = {
  pipeline: setting({
    ...common.pipeline,
    description: 'path of the pipeline modules whose batches the console takes and checks (one, or several separated by commas, as the roles take)',
  }),
  redisUrl: setting({
    env: common.redisUrl.env,
    flag: common.redisUrl.flag,
    description: 'the Redis that the pipelines use (redis:// or rediss://)',
    parse: redisUrl,
  }),
  ...redisSettings,
  redisPrefix: common.redisPrefix,
  eventsConnect: setting({ ...common.eventsConnect, description: "the sink's events endpoint, for live updates" }),
  ...curveClientSettings,
  consolePort: setting({
    env: 'JOBPIPE_CONSOLE_PORT',
    flag: 'console-port',
    description: 'HTTP port of the API (/v1) and the web UI (0 picks a free port)',
    default: 8480,
    parse: port,
  }),
  consoleHost: setting<string | undefined>({
    env: 'JOBPIPE_CONSOLE_HOST',
    flag: 'console-host',
    description: 'address the API and UI listen on; without a token only a loopback address is allowed',
    default: undefined,
    defaultText: '`0.0.0.0` with tokens, `127.0.0.1` without',
    parse: (raw) => {
      const value = raw.trim();
      if (value === '' || /\s/.test(value)) throw new Error(`"${raw}" is not an address`);
      return value;
    },
  }),
  consoleAdminTokens: adminTokens.value,
  consoleAdminTokensFile: adminTokens.file,
  consoleReadTokens: readTokens.value,
  consoleReadTokensFile: readTokens.file,
  consoleMaxBodyBytes: setting({
    env: 'JOBPIPE_CONSOLE_MAX_BODY_BYTES',
    flag: 'console-max-body-bytes',
    description: 'the largest request body the API takes, in bytes (a larger one is refused with 413)',
    default: 4 * 1024 * 1024,
    parse: integer(1024, 256 * 1024 * 1024),
  }),
  metricsPort: common.metricsPort,
  logLevel: common.logLevel,
  logFormat: common.logFormat,
};
