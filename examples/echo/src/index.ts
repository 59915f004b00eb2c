export { default as echoPipeline, checkInput } from './pipeline.js';
