import { ConfigError } from './load-config.js';
import { readTextFile, setting, type Setting } from './settings.js';

/** A parser of a file's text: reads the file named by the raw value, and names it when its text is refused. */
function fromFile<T>(parse: (raw: string) => T): (raw: string) => T {
  return (raw) => {
    const path = raw.trim();
    const text = readTextFile(path);
    try {
      return parse(text);
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`);
    }
  };
}

/** A setting given as a value or, with `_FILE`, as the path of a file holding it (Kubernetes and compose secrets). */
export interface ValueOrFile<T> {
  value: Setting<T | undefined>;
  file: Setting<T | undefined>;
}

export function valueOrFile<T>(name: string, flag: string, description: string, parse: (raw: string) => T): ValueOrFile<T> {
  return {
    value: setting<T | undefined>({ env: name, flag, description, default: undefined, parse }),
    file: setting<T | undefined>({
      env: `${name}_FILE`,
      flag: `${flag}-file`,
      description: `file holding ${name}`,
      default: undefined,
      parse: fromFile(parse),
    }),
  };
}

/** The one of the pair that is set; a ConfigError when both are. */
export function eitherOf<T>(value: T | undefined, file: T | undefined, pair: ValueOrFile<T>): T | undefined {
  if (value !== undefined && file !== undefined) {
    throw new ConfigError(pair.value.env, pair.value.flag, `set ${pair.value.env} or ${pair.file.env}, not both`);
  }
  return value ?? file;
}
