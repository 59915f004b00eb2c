import { describe, expect, it } from 'vitest';
import { isLoopback, parseTokens, TokenBook } from './tokens.js';

const ADMIN = 'a'.repeat(16);
const READ = 'r'.repeat(32);

describe('console tokens', () => {
  it('reads tokens separated by commas or lines, with notes after a space', () => {
    expect(parseTokens(`${ADMIN}  ci bot\n\n${READ},`)).toEqual([ADMIN, READ]);
  });

  it('refuses an empty list, a short token and one that cannot travel in a header, without repeating it', () => {
    expect(() => parseTokens(' \n ')).toThrow(/no token/);
    expect(() => parseTokens('short-secret')).toThrow(/token 1 has 12 characters; a token has 16 to 200/);
    const error = (() => {
      try {
        parseTokens(`${ADMIN},ümlaut-token-0123456789`);
      } catch (caught) {
        return (caught as Error).message;
      }
    })();
    expect(error).toMatch(/token 2 holds a character/);
    expect(error).not.toContain('ümlaut');
  });

  it('gives each bearer token its scope, and none to an unknown or malformed header', () => {
    const book = new TokenBook([ADMIN], [READ]);
    expect(book.open).toBe(false);
    expect(book.scopeOf(`Bearer ${ADMIN}`)).toBe('admin');
    expect(book.scopeOf(`bearer ${READ}`)).toBe('read');
    expect(book.scopeOf(`Bearer ${READ}x`)).toBeUndefined();
    expect(book.scopeOf(READ)).toBeUndefined();
    expect(book.scopeOf(`Basic ${ADMIN}`)).toBeUndefined();
    expect(book.scopeOf(undefined)).toBeUndefined();
  });

  it('a token in both lists is an admin token', () => {
    expect(new TokenBook([ADMIN], [ADMIN]).scopeOf(`Bearer ${ADMIN}`)).toBe('admin');
  });

  it('without any token every request may do everything (the console then listens on loopback only)', () => {
    const book = new TokenBook([], []);
    expect(book.open).toBe(true);
    expect(book.scopeOf(undefined)).toBe('admin');
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com']) expect(isLoopback(host)).toBe(false);
  });
});
