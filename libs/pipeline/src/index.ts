/**
 * The pipeline module API: one module, loaded by path in all three roles.
 *
 * ```ts
 * import { definePipeline } from '@jobpipe/pipeline';
 * export default definePipeline({
 *   name: 'squares',
 *   split: function* (input: { n: number }) { for (let i = 0; i < input.n; i++) yield i; },
 *   work: (x: number) => x * x,
 *   init: () => ({ sum: 0 }),
 *   collect: (square, ctx) => { ctx.state.sum += square; },
 *   summarize: (state) => state.sum,
 * });
 * ```
 *
 * A pipeline may declare its input with any Standard Schema library; submissions and the
 * ventilator check batches against it:
 *
 * ```ts
 * import { z } from 'zod';
 * export default definePipeline({ name: 'squares', input: z.object({ n: z.number().int().min(0) }), ... });
 * ```
 */
export { definePipeline, assertPipeline, PipelineError } from './define-pipeline.js';
export { NonRetryableError, isNonRetryable } from './non-retryable-error.js';
export type { Pipeline, PipelineDefinition, JobContext, CollectContext, WorkerHints } from './define-pipeline.js';
export { loadPipeline } from './load-pipeline.js';
export { parseInput, InputError, formatPath } from './parse-input.js';
export { isStandardSchema } from './standard-schema.js';
