import { it } from 'vitest';
import { Cleanup, echoPipeline, startBatch, logTime } from '/work/main/test/integration/helpers.js';
it('timing', async () => {
  const cleanup = new Cleanup();
  const t0 = Date.now();
  const { stack, events } = await startBatch(cleanup, { pipeline: echoPipeline, workers: 3, input: { jobs: 3000, payloadBytes: 100, workMs: 1 }, batchId: 'x', workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }) });
  const t1 = Date.now();
  const s = await events.completed('x', 30000);
  const t2 = Date.now();
  const joins = stack.ventilator!.logs('worker joined').map(l => [l.worker, logTime(l)]);
  const start = logTime(stack.ventilator!.logs('batch started')[0]!);
  console.log('start', t1 - t0, 'batch', t2 - t1, 'wall', s.wallSeconds, s.perWorker, joins.map(([w, t]) => `${w}+${(t as number) - start}`));
  await cleanup.run();
  console.log('cleanup', Date.now() - t2, stack.processes.map(p => `${p.name}:${p.child.exitCode}`));
  for (const p of stack.processes) console.log(p.name, p.logs().slice(-3).map(l => `${l.time} ${l.msg}`).join(' | '));
});
