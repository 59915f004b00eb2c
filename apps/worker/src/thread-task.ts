// Runs inside a piscina worker thread: loads the pipeline module once, then runs `work` per task.
import { workerData } from 'node:worker_threads';
import { loadPipeline, type Pipeline } from '@jobpipe/pipeline';
import { forThread } from './errors.js';

interface Task {
  payload: unknown;
  batch: string;
  seq: number;
  attempt: number;
}

const pipelinePromise: Promise<Pipeline> = loadPipeline((workerData as { pipelinePath: string }).pipelinePath);
// Aborting a task terminates this thread, so the signal a handler sees here never fires.
const neverAborted = new AbortController().signal;

export default async function runTask(task: Task): Promise<unknown> {
  const pipeline = await pipelinePromise;
  try {
    return await pipeline.work(task.payload, {
      jobId: `${task.batch}:${task.seq}`,
      batch: task.batch,
      seq: task.seq,
      attempt: task.attempt,
      signal: neverAborted,
    });
  } catch (error) {
    // A non-retryable error would lose its mark in the structured clone to the main thread.
    throw forThread(error);
  }
}
