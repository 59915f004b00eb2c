import type { StandardSchemaV1 } from '@standard-schema/spec';
import { JobpipeError } from '@jobpipe/protocol/errors';
import type { Pipeline } from './define-pipeline.js';

/** A batch input the pipeline rejects: `issues` has each failing field, the message names them. */
export class InputError extends JobpipeError {
  override name = 'InputError';
  constructor(
    message: string,
    readonly issues: readonly { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** Issues named in the message at most; the rest are counted. */
const MAX_ISSUES_SHOWN = 5;

/**
 * Checks a batch's input against the pipeline: its `input` schema first (any Standard Schema:
 * zod >= 3.24, valibot >= 1, ArkType), then its `validate`. Returns the value `split` gets: the
 * schema's output (defaults filled in, say), or the input as it is without a schema. Throws
 * InputError, `<pipeline> rejects the input: input.jobs: Expected number, received string`.
 */
export async function parseInput(pipeline: Pipeline, input: unknown): Promise<unknown> {
  let value = input;
  if (pipeline.input) {
    let result: StandardSchemaV1.Result<unknown>;
    try {
      result = await pipeline.input['~standard'].validate(input);
    } catch (error) {
      throw new InputError(`${pipeline.name} rejects the input: its schema threw: ${(error as Error)?.message ?? String(error)}`);
    }
    if (result.issues) {
      const issues = result.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
      throw new InputError(`${pipeline.name} rejects the input: ${describeIssues(issues)}`, issues);
    }
    value = result.value;
  }
  if (pipeline.validate) {
    try {
      pipeline.validate(value);
    } catch (error) {
      throw new InputError(`${pipeline.name} rejects the input: ${(error as Error)?.message ?? String(error)}`);
    }
  }
  return value;
}

function describeIssues(issues: readonly { path: string; message: string }[]): string {
  if (issues.length === 0) return 'input is invalid';
  const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => `${issue.path}: ${issue.message}`);
  if (issues.length > MAX_ISSUES_SHOWN) shown.push(`and ${issues.length - MAX_ISSUES_SHOWN} more`);
  return shown.join('; ');
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** An issue's path as it would read in code: `input.jobs`, `input.ranges[2].to`, `input["a b"]`. */
export function formatPath(path: StandardSchemaV1.Issue['path']): string {
  let out = 'input';
  for (const segment of path ?? []) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}
