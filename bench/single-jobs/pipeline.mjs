// The single-jobs benchmark's pipeline: a job's result is its payload.
import { definePipeline } from '@jobpipe/pipeline';

export default definePipeline({ name: 'single', split: function* () {}, work: (payload) => payload });
