export { default as echoPipeline } from './pipeline.js';
