import { describe, expect, it } from 'vitest';
import { fieldErrors, problemBody } from './problems.js';

describe('problem details', () => {
  it('names each failing field as a path a person reads', () => {
    const errors = fieldErrors(
      [
        { instancePath: '/priority', keyword: 'type', message: 'must be integer', params: {} },
        { instancePath: '/jobs/2', keyword: 'required', message: "must have required property 'payload'", params: { missingProperty: 'payload' } },
        { instancePath: '', keyword: 'additionalProperties', message: 'must NOT have additional properties', params: { additionalProperty: 'priorty' } },
        { instancePath: '/a~1b', keyword: 'type', message: 'must be string', params: {} },
      ],
      'body',
    );
    expect(errors).toEqual([
      { field: 'priority', message: 'must be integer' },
      { field: 'jobs[2].payload', message: "must have required property 'payload'" },
      { field: 'priorty', message: 'is not a field of this request' },
      { field: 'a/b', message: 'must be string' },
    ]);
    expect(fieldErrors([{ instancePath: '/limit', keyword: 'pattern', message: 'must match', params: {} }], 'querystring')[0]!.field).toBe('query.limit');
    expect(fieldErrors([{ instancePath: '/batch', keyword: 'pattern', message: 'must match', params: {} }], 'params')[0]!.field).toBe('path.batch');
    expect(fieldErrors([{ instancePath: '', keyword: 'type', message: 'must be object', params: {} }], 'body')[0]!.field).toBe('body');
  });

  it('carries RFC 9457 members, the fields only when there are some', () => {
    expect(problemBody(422, 'no', '/v1/x', [{ field: 'input.limit', message: 'too big' }])).toEqual({
      type: 'urn:jobpipe:problem:input-refused',
      title: 'The pipeline refuses the input',
      status: 422,
      detail: 'no',
      instance: '/v1/x',
      errors: [{ field: 'input.limit', message: 'too big' }],
    });
    expect(problemBody(404, 'gone', '/v1/y')).not.toHaveProperty('errors');
  });
});
