import { describe, expect, it } from 'vitest';
import { isNonRetryable, NonRetryableError } from './index.js';

describe('NonRetryableError', () => {
  it('is an Error named NonRetryableError, marked retryable false, with its cause', () => {
    const cause = new Error('404');
    const error = new NonRetryableError('item 7 does not exist', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'NonRetryableError', message: 'item 7 does not exist', retryable: false, cause });
    expect(isNonRetryable(error)).toBe(true);
  });

  it('keeps the mark in a subclass of its own name', () => {
    class NotFound extends NonRetryableError {
      override name = 'NotFound';
    }
    expect(isNonRetryable(new NotFound('gone'))).toBe(true);
  });

  it('isNonRetryable: any error or object whose retryable is false, and nothing else', () => {
    expect(isNonRetryable(Object.assign(new TypeError('bad data'), { retryable: false }))).toBe(true);
    expect(isNonRetryable({ name: 'X', message: 'y', retryable: false })).toBe(true);
    for (const value of [
      new Error('x'),
      Object.assign(new Error('x'), { retryable: true }),
      { retryable: 0 },
      { retryable: 'false' },
      null,
      undefined,
      'retryable',
      false,
    ]) {
      expect(isNonRetryable(value)).toBe(false);
    }
  });
});
