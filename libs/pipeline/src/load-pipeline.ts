import { pathToFileURL } from 'node:url';
import { assertPipeline, PipelineError, type Pipeline } from './define-pipeline.js';

/**
 * Imports a pipeline module by file path: its default export (or an export named `pipeline`) must
 * be a pipeline definition. Throws PipelineError with the path and what is wrong.
 */
export async function loadPipeline(path: string): Promise<Pipeline> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new PipelineError(`cannot load pipeline module ${path}: ${(error as Error).message}`);
  }
  const candidate = module.default ?? module.pipeline;
  if (candidate === undefined) throw new PipelineError(`${path} has no default export (expected definePipeline(...))`);
  assertPipeline(candidate, path);
  return candidate;
}
