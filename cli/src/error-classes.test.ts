import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AddressError, ConfigError } from '@jobpipe/config';
import { SubmissionError } from '@jobpipe/intake';
import { RedisRefusedError, RedisUnreachableError } from '@jobpipe/ledger';
import { InputError, PipelineError } from '@jobpipe/pipeline';
import { JobpipeError, ProtocolError } from '@jobpipe/protocol';
import { TracingSettingError } from '@jobpipe/observability';
import { UsageError } from './usage-error.js';

const root = new URL('../../', import.meta.url).pathname;
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'dist' || entry.name === 'node_modules' ? [] : sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('error classes', () => {
  it('every one jobpipe defines extends JobpipeError, the one base class (directly or through another)', () => {
    const dirs = ['apps', 'libs'].flatMap((top) => readdirSync(join(root, top)).map((name) => join(root, top, name, 'src'))).concat(join(root, 'cli/src'));
    const parentOf = new Map<string, string>();
    for (const file of dirs.flatMap((dir) => {
      try {
        return sources(dir);
      } catch {
        return [];
      }
    })) {
      for (const [, name, parent] of readFileSync(file, 'utf8').matchAll(/\bclass (\w+) extends (\w+)/g))
        if (/Error$/.test(parent!) || /Error$/.test(name!)) parentOf.set(name!, parent!);
    }
    expect(parentOf.get('JobpipeError')).toBe('Error');
    expect(parentOf.size).toBeGreaterThan(8);
    const astray = [...parentOf.keys()].filter((name) => {
      let at = name;
      while (at !== 'JobpipeError' && parentOf.has(at)) at = parentOf.get(at)!;
      return at !== 'JobpipeError';
    });
    expect(astray).toEqual([]);
  });

  it('keep their names, which the CLI and logs show (and main.ts matches)', () => {
    const errors: [JobpipeError, string][] = [
      [new ConfigError('JOBPIPE_X', 'x', 'm'), 'ConfigError'],
      [new AddressError({ env: 'JOBPIPE_METRICS_PORT', flag: 'metrics-port' }, 'port 9400', 'EADDRINUSE'), 'AddressError'],
      [new RedisUnreachableError('redis://h:6379', 'connection refused', 5000, {}), 'RedisUnreachableError'],
      [new RedisRefusedError('redis://h:6379', 'WRONGPASS invalid username-password pair'), 'RedisRefusedError'],
      [new InputError('m'), 'InputError'],
      [new PipelineError('m'), 'PipelineError'],
      [new SubmissionError('m'), 'SubmissionError'],
      [new UsageError('m'), 'UsageError'],
      [new ProtocolError('bad_json', 'm'), 'ProtocolError'],
      [new TracingSettingError('m'), 'TracingSettingError'],
    ];
    for (const [error, name] of errors) {
      expect(error).toBeInstanceOf(JobpipeError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
    }
    expect(errors[3]![0]).toBeInstanceOf(ConfigError);
  });
});
