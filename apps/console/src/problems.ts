import { JobpipeError } from '@jobpipe/protocol/errors';

/** RFC 9457 problem details: every error the API answers. */

export interface FieldError {
  /** `input.limit`, `priority` (body fields), `query.limit`, `path.batch`. */
  field: string;
  message: string;
}

const TITLES: Record<number, [slug: string, title: string]> = {
  400: ['bad-request', 'Bad request'],
  401: ['unauthorized', 'A bearer token is needed'],
  403: ['forbidden', 'This token may only read'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  409: ['conflict', 'Conflict'],
  413: ['too-large', 'The body is too large'],
  415: ['unsupported-media-type', 'The body is not JSON'],
  422: ['input-refused', 'The pipeline refuses the input'],
  500: ['internal', 'Internal error'],
  503: ['unavailable', 'Redis does not answer'],
};

/** An error the API answers as problem details. */
export class Problem extends JobpipeError {
  override name = 'Problem';

  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors?: readonly FieldError[],
  ) {
    super(detail);
  }
}

export function problemBody(status: number, detail: string, instance: string, errors?: readonly FieldError[]) {
  const [slug, title] = TITLES[status] ?? ['error', 'Error'];
  return {
    type: `urn:jobpipe:problem:${slug}`,
    title,
    status,
    detail,
    instance,
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
}

/** What ajv (through Fastify) says of a request, as field errors: `priority`, `jobs[2].delayMs`, `query.limit`. */
export function fieldErrors(
  validation: readonly { instancePath: string; message?: string; keyword: string; params: Record<string, unknown> }[],
  context: string,
): FieldError[] {
  const prefix = context === 'body' ? '' : context === 'querystring' ? 'query' : context === 'params' ? 'path' : context;
  return validation.map((issue) => {
    const parts = issue.instancePath
      .split('/')
      .slice(1)
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (issue.keyword === 'required') parts.push(String(issue.params.missingProperty));
    if (issue.keyword === 'additionalProperties') parts.push(String(issue.params.additionalProperty));
    let field = prefix;
    for (const part of parts) field = /^\d+$/.test(part) ? `${field}[${part}]` : field === '' ? part : `${field}.${part}`;
    const message = issue.keyword === 'additionalProperties' ? 'is not a field of this request' : (issue.message ?? 'is invalid');
    return { field: field === '' ? 'body' : field, message };
  });
}
