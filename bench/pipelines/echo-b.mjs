// The echo pipeline under a second name, so that two pipelines of the same work can share one
// ventilator and one sink (bench/pipelines/two-pipelines.mjs).
import { definePipeline } from '@jobpipe/pipeline';
import echo from '../../examples/echo/dist/pipeline.js';

export default definePipeline({ ...echo, name: 'echo-b' });
