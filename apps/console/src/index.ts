/**
 * The console role: `runConsole(config)` serves the operator's HTTP API (/v1, described by the
 * OpenAPI 3.1 document at /v1/openapi.json) and the web UI, until SIGTERM. See docs/console.md.
 */
import { readFileSync } from 'node:fs';
import { addressError, ConfigError, eitherOf, loadConfig, redisConnectionFrom, type ConfigOf } from '@jobpipe/config';
import { JobpipeClient } from '@jobpipe/intake';
import { connectRoleRedis, redisAnswers } from '@jobpipe/ledger';
import { startRole } from '@jobpipe/role-shell';
import { curveClientFrom } from '@jobpipe/transport';
import { Console } from './console.js';
import { consoleSettings, tokenSettings } from './settings.js';
import { isLoopback, TokenBook } from './tokens.js';

export { consoleSettings } from './settings.js';
export { Console } from './console.js';
export type { ConsoleOptions } from './console.js';
export { openApiDocument } from './openapi.js';
export { TokenBook, parseTokens } from './tokens.js';

export type ConsoleConfig = ConfigOf<typeof consoleSettings>;

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Starts a console process from its configuration and runs it until a shutdown signal. */
export async function runConsole(config: ConsoleConfig = loadConfig(consoleSettings)): Promise<void> {
  // Checked before anything starts: a bad combination is a one-line ConfigError (exit code 2).
  const connection = redisConnectionFrom(config)!;
  const curve = curveClientFrom(config);
  const admin = eitherOf(config.consoleAdminTokens, config.consoleAdminTokensFile, tokenSettings.adminTokens) ?? [];
  const read = eitherOf(config.consoleReadTokens, config.consoleReadTokensFile, tokenSettings.readTokens) ?? [];
  // A token in both lists would be taken as admin, whatever its operator meant by listing it to read.
  const inBoth = read.findIndex((token) => admin.includes(token));
  if (inBoth >= 0)
    throw new ConfigError(
      tokenSettings.readTokens.value.env,
      tokenSettings.readTokens.value.flag,
      `read token ${inBoth + 1} of ${tokenSettings.readTokens.value.env} is also in ${tokenSettings.adminTokens.value.env}; a token has one scope, so take it out of one list`,
    );
  const tokens = new TokenBook(admin, read);
  if (tokens.open && config.consoleHost !== undefined && !isLoopback(config.consoleHost))
    throw new ConfigError(
      consoleSettings.consoleHost.env,
      consoleSettings.consoleHost.flag,
      `${consoleSettings.consoleHost.env} is ${config.consoleHost}, not a loopback address, and no token is set: set ${tokenSettings.adminTokens.value.env} (or its _FILE form) so that strangers cannot drive the pipeline`,
    );
  const host = config.consoleHost ?? (tokens.open ? '127.0.0.1' : '0.0.0.0');
  await startRole({
    role: 'console',
    config,
    metricsPortSetting: consoleSettings.metricsPort,
    malformedReasons: [],
    build: ({ pipelines, logger }) => {
      const redis = connectRoleRedis(connection, logger, config.redisPrefix);
      const client = new JobpipeClient(redis, config.redisPrefix);
      const console = new Console({
        client,
        pipelines,
        tokens,
        host,
        port: config.consolePort,
        maxBodyBytes: config.consoleMaxBodyBytes,
        eventsConnect: config.eventsConnect,
        ...(curve ? { curve } : {}),
        logger,
        version,
      });
      return {
        console,
        // A port this machine refuses is named by its setting (startRole would blame the events endpoint).
        start: () =>
          console.start().catch((error: unknown) => {
            // Not this machine's address: the host is at fault, not the port.
            const code = (error as NodeJS.ErrnoException | undefined)?.code;
            const setting = code === 'EADDRNOTAVAIL' || code === 'ENODEV' ? consoleSettings.consoleHost : consoleSettings.consolePort;
            throw addressError(error, setting, `${host} port ${config.consolePort}`) ?? error;
          }),
        ready: async () => redisAnswers(redis),
        stop: async () => {
          await console.stop();
          await client.close().catch(() => {});
          redis.disconnect();
        },
        endpoints: [[consoleSettings.eventsConnect, config.eventsConnect]] as const,
      };
    },
    readyFields: (role) => ({
      url: `http://${host.includes(':') ? `[${host}]` : host}:${role.console.port}/`,
      auth: tokens.open ? 'none: listening on loopback only (set JOBPIPE_CONSOLE_ADMIN_TOKENS to listen beyond it)' : 'bearer tokens',
    }),
  });
}
