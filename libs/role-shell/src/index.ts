/**
 * The shell every jobpipe role process runs in: `startRole` loads the pipeline, makes the logger,
 * the metrics and the health server, starts the role and stops it on a shutdown signal. Each
 * role's `run*()` is this shell around the role's own parts.
 */
export { loadPipelines, startRole } from './start-role.js';
export type { RoleParts, RoleShellConfig, RoleShellSpec, RunnableRole } from './start-role.js';
