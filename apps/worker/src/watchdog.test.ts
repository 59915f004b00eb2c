import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The watchdog is a thread of the built package (dist/watchdog-thread.js): run it in a process of
// its own, never in the test runner's, which it would kill.
const executorUrl = new URL('../dist/executor.js', import.meta.url).href;
const pipelineUrl = new URL('../../../libs/pipeline/dist/index.js', import.meta.url).href;

function run(work: string, timeoutMs: number) {
  const script = `
    const { createExecutor } = await import(${JSON.stringify(executorUrl)});
    const { definePipeline } = await import(${JSON.stringify(pipelineUrl)});
    const pipeline = definePipeline({ name: 't', split: () => [], work: ${work} });
    const executor = createExecutor({ pipeline, pipelinePath: '', threads: 0, timeoutMs: ${timeoutMs} });
    const outcome = await executor.run({ batch: 'b', seq: 7, attempt: 3, dispatchedAt: 0, payload: null });
    console.log(JSON.stringify({ outcome }));
    await new Promise((resolve) => setTimeout(resolve, ${timeoutMs} * 2));
    await executor.close();
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  });
}

describe('Watchdog', () => {
  it('kills the process when a synchronous handler blocks past the timeout, naming the job', () => {
    const started = Date.now();
    const child = run('() => { for (;;); }', 300);
    expect(child.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(10_000);
    const line = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
    expect(line).toMatchObject({ level: 'fatal', role: 'worker', seq: 7, attempt: 3, timeoutMs: 300, error: { name: 'TimeoutError' } });
    expect(line.blockedMs).toBeGreaterThan(300);
  });

  it('leaves a process alone whose handlers return, and lets it exit', () => {
    const child = run('() => { const until = Date.now() + 100; while (Date.now() < until); return 1; }', 300);
    expect(child.signal).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim())).toEqual({ outcome: { ok: true, value: 1 } });
  });
});
