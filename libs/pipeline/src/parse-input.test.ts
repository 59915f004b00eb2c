import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, expect, it } from 'vitest';
import { definePipeline } from './define-pipeline.js';
import { formatPath, InputError, parseInput } from './parse-input.js';
import { isStandardSchema } from './standard-schema.js';

/** A Standard Schema made by hand, as a library would make one: `{ n: integer >= 0, tags?: string[] }`, `n` defaults to 1. */
const schema: StandardSchemaV1<unknown, { n: number; tags: string[] }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate(value) {
      if (typeof value !== 'object' || value === null) return { issues: [{ message: 'Expected object' }] };
      const { n = 1, tags = [] } = value as { n?: unknown; tags?: unknown[] };
      const issues: StandardSchemaV1.Issue[] = [];
      if (!Number.isInteger(n) || (n as number) < 0) issues.push({ message: `Expected integer >= 0, received ${JSON.stringify(n)}`, path: ['n'] });
      tags.forEach((tag, i) => {
        if (typeof tag !== 'string') issues.push({ message: 'Expected string', path: [{ key: 'tags' }, { key: i }] });
      });
      return issues.length > 0 ? { issues } : { value: { n: n as number, tags: tags as string[] } };
    },
  },
};
const asyncSchema: StandardSchemaV1<unknown, number> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: async (value) => (typeof value === 'number' ? { value } : { issues: [{ message: 'Expected number', path: [] }] }),
  },
};

const base = { name: 'p', split: (): number[] => [], work: (x: number) => x };

describe('parseInput', () => {
  it("returns the schema's output, defaults filled in", async () => {
    const pipeline = definePipeline({ ...base, input: schema });
    expect(await parseInput(pipeline, {})).toEqual({ n: 1, tags: [] });
    expect(await parseInput(definePipeline({ ...base, input: asyncSchema }), 3)).toBe(3);
  });

  it('names the path of every failing field in its message', async () => {
    const pipeline = definePipeline({ ...base, input: schema });
    const error = await parseInput(pipeline, { n: 'x', tags: ['a', 2, 'c', null] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toBe(
      'p rejects the input: input.n: Expected integer >= 0, received "x"; input.tags[1]: Expected string; input.tags[3]: Expected string',
    );
    expect((error as InputError).issues).toHaveLength(3);
    await expect(parseInput(pipeline, null)).rejects.toThrow('p rejects the input: input: Expected object');
    await expect(parseInput(definePipeline({ ...base, input: asyncSchema }), 'x')).rejects.toThrow('p rejects the input: input: Expected number');
  });

  it('runs validate after the schema, on its output, and alone without one', async () => {
    const seen: unknown[] = [];
    const validate = (input: unknown) => {
      seen.push(input);
      if ((input as { n: number }).n > 10) throw new RangeError('input.n must be at most 10');
    };
    await expect(parseInput(definePipeline({ ...base, input: schema, validate }), { n: 11 })).rejects.toThrow(
      'p rejects the input: input.n must be at most 10',
    );
    expect(seen).toEqual([{ n: 11, tags: [] }]);
    expect(await parseInput(definePipeline({ ...base, validate }), { n: 2 })).toEqual({ n: 2 });
    expect(await parseInput(definePipeline(base), 'anything')).toBe('anything');
  });

  it('turns a schema that throws into an InputError', async () => {
    const throwing: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'x',
        validate: () => {
          throw new Error('boom');
        },
      },
    };
    await expect(parseInput(definePipeline({ ...base, input: throwing }), 1)).rejects.toThrow(new InputError('p rejects the input: its schema threw: boom'));
  });

  it('shows five issues and counts the rest', async () => {
    const many = await parseInput(definePipeline({ ...base, input: schema }), { tags: [1, 2, 3, 4, 5, 6, 7] }).catch((e: InputError) => e.message);
    expect(many).toMatch(/input\.tags\[4\]: Expected string; and 2 more$/);
  });
});

describe('formatPath', () => {
  it('writes paths as code would', () => {
    expect(formatPath(undefined)).toBe('input');
    expect(formatPath(['jobs'])).toBe('input.jobs');
    expect(formatPath(['ranges', 2, { key: 'to' }])).toBe('input.ranges[2].to');
    expect(formatPath(['a b', '$ok', '1x'])).toBe('input["a b"].$ok["1x"]');
  });
});

describe('isStandardSchema', () => {
  it('recognises version 1 of the interface, on objects and functions (ArkType types are functions)', () => {
    expect(isStandardSchema(schema)).toBe(true);
    expect(isStandardSchema(Object.assign(() => {}, { '~standard': schema['~standard'] }))).toBe(true);
    expect(isStandardSchema({ '~standard': { version: 1 } })).toBe(false);
    expect(isStandardSchema(null)).toBe(false);
  });
});
