import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const index = new URL('../dist/index.js', import.meta.url).href;

/** What a process logging one line with `format` writes to its stdout (a pipe, not a terminal). */
function logged(format: string): string {
  const program = `import(${JSON.stringify(index)}).then(({ createLogger }) => createLogger('test', 'info', { worker: 'w1' }, ${JSON.stringify(format)}).info({ jobs: 3 }, 'hello'))`;
  return execFileSync(process.execPath, ['-e', program], { encoding: 'utf8' });
}

describe('createLogger', () => {
  it('writes JSON lines when the output is not a terminal', () => {
    const line = JSON.parse(logged('auto'));
    expect(line).toMatchObject({ level: 'info', role: 'test', worker: 'w1', jobs: 3, msg: 'hello' });
  });

  it("writes pino-pretty's readable lines when asked for 'pretty'", () => {
    const output = logged('pretty');
    expect(output).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hello\n/);
    expect(output).toContain('role: "test"');
    expect(output).toContain('jobs: 3');
    expect(() => JSON.parse(output)).toThrow();
  });
});
