import { ConfigError } from './load-config.js';
import type { Setting } from './settings.js';

/** How a message names a setting: `JOBPIPE_METRICS_PORT (--metrics-port)`. */
export function settingName(setting: Pick<Setting<unknown>, 'env' | 'flag'>): string {
  return `${setting.env} (--${setting.flag})`;
}

/** What is wrong with an address, by the error code that listen, bind or connect gave. */
const PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'is in use by another process',
  EACCES: 'may not be used by this user (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'is not an address of this machine',
  ENODEV: 'names no host or interface of this machine',
  ENOENT: 'cannot be created: its directory does not exist',
  EINVAL: 'is not an address that can be used here',
};

/**
 * A setting's address that this machine refuses: a port or endpoint already in use, an address
 * that is not the machine's, a port the user may not open. One line naming the setting, the
 * address and what to do.
 */
export class AddressError extends ConfigError {
  override name = 'AddressError';
  constructor(
    readonly setting: Pick<Setting<unknown>, 'env' | 'flag'>,
    /** As the user wrote it: `port 9400`, `tcp://*:5557`. */
    readonly address: string,
    /** listen's, bind's or connect's error code: EADDRINUSE, EACCES, ... */
    readonly code: string,
    /** What to do, when the code's own advice does not fit. */
    hint?: string,
  ) {
    super(setting.env, setting.flag, describe(setting, address, code, hint ?? defaultHint(code)));
  }

  /** True for an error code that AddressError explains. */
  static explains(code: unknown): code is string {
    return typeof code === 'string' && code in PROBLEMS;
  }
}

function describe(setting: Pick<Setting<unknown>, 'env' | 'flag'>, address: string, code: string, todo: string | undefined): string {
  return `${settingName(setting)}: ${address} ${PROBLEMS[code] ?? `cannot be used (${code})`}${todo ? `: ${todo}` : ''}`;
}

function defaultHint(code: string): string | undefined {
  if (code === 'EADDRINUSE') return 'stop that process, or choose another';
  if (code === 'EACCES') return 'choose a port above 1023';
  if (code === 'EADDRNOTAVAIL' || code === 'ENODEV') return "choose one of this machine's addresses, or * for all";
  return undefined;
}

/**
 * The AddressError for `error` when listen, bind or connect failed for its address (EADDRINUSE
 * and the like), else undefined: the caller rethrows what it does not know.
 */
export function addressError(error: unknown, setting: Pick<Setting<unknown>, 'env' | 'flag'>, address: string, hint?: string): AddressError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (!AddressError.explains(code)) return undefined;
  const explained = new AddressError(setting, address, code, hint);
  explained.cause = error;
  return explained;
}

/** Runs `check` on a setting's value; what it throws becomes a one-line ConfigError naming the setting. */
export function checkSetting(setting: Pick<Setting<unknown>, 'env' | 'flag'>, check: () => unknown): void {
  try {
    check();
  } catch (error) {
    throw new ConfigError(setting.env, setting.flag, `invalid ${settingName(setting)}: ${(error as Error).message}`);
  }
}
