import { describe, expect, it } from 'vitest';
import { OptionError } from '@jobpipe/config';
import { definePipeline } from '@jobpipe/pipeline';
import { workerSettings } from './settings.js';
import { compileWorkerOptions, withDefaults } from './worker-options.js';

const pipeline = definePipeline({ name: 'p', split: () => [], work: (n: number) => n });
const hinted = definePipeline({ name: 'h', split: () => [], work: (n: number) => n, worker: { threads: 3, timeoutMs: 1234 } });

describe('worker options', () => {
  it("fills in the settings' defaults", () => {
    const o = withDefaults({ pipeline });
    expect(o).toMatchObject({
      threads: 0,
      concurrency: 1,
      timeoutMs: 300_000,
      workerId: workerSettings.workerId.default,
      jobsConnect: workerSettings.jobsConnect.default,
      resultsConnect: workerSettings.resultsConnect.default,
      prefetchMs: 50,
      heartbeatMs: 1000,
      maxMessageBytes: 4 * 1024 * 1024,
      drainTimeoutMs: 25_000,
    });
    expect(o.executor).toBeUndefined();
    expect(o.security.enabled).toBe(false);
    expect(o.logger.level).toBe('silent');
  });

  it("takes the pipeline's hints where no option is given, and an option over a hint", () => {
    expect(withDefaults({ pipeline: hinted })).toMatchObject({ threads: 3, concurrency: 3, timeoutMs: 1234 });
    expect(withDefaults({ pipeline: hinted, threads: 0, concurrency: undefined, timeoutMs: 10 })).toMatchObject({ threads: 0, concurrency: 1, timeoutMs: 10 });
  });

  it('makes the executor only once every option is checked', async () => {
    const o = compileWorkerOptions({ pipeline });
    expect(o.labels).toEqual({ pipeline: 'p' });
    expect(o.maxResultsPerMessage).toBe(500);
    expect(await o.executor.run({ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: 7 })).toEqual({ ok: true, value: 7 });
    await o.executor.close();
  });

  it('refuses a value outside its setting, naming the option and the setting', () => {
    const refused = (options: object) => {
      try {
        compileWorkerOptions({ pipeline, ...options });
      } catch (error) {
        expect(error).toBeInstanceOf(OptionError);
        return (error as Error).message;
      }
      return undefined;
    };
    expect(refused({ concurrency: 0 })).toBe('invalid worker option concurrency (JOBPIPE_CONCURRENCY, --concurrency): 0 is outside 1..100000');
    expect(refused({ prefetchMs: -1 })).toMatch(/prefetchMs .*-1 is outside/);
    expect(refused({ timeoutMs: 0 })).toMatch(/timeoutMs \(JOBPIPE_JOB_TIMEOUT_MS/);
    expect(refused({ workerId: '' })).toMatch(/workerId/);
    expect(refused({ resultsConnect: 'tcp://nowhere' })).toMatch(/resultsConnect .*not a ZeroMQ endpoint/);
    expect(refused({ pipeline: {} })).toMatch(/option pipeline/);
    expect(refused({ threads: 2 })).toMatch(/option pipelinePath/);
  });
});
