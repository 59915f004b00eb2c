import { timingSafeEqual, createHash } from 'node:crypto';

export type Scope = 'read' | 'admin';

const MIN_TOKEN = 16;
const MAX_TOKEN = 200;

/** Tokens separated by commas or lines; after a token, a space starts a note ("<token>  ci-bot"). */
export function parseTokens(raw: string): string[] {
  const tokens = raw
    .split(/[\n,]/)
    .map((entry) => entry.trim().split(/\s+/)[0]!)
    .filter((token) => token !== '');
  if (tokens.length === 0) throw new Error('holds no token');
  tokens.forEach((token, i) => {
    // The message never repeats the token: it is a secret.
    if (token.length < MIN_TOKEN || token.length > MAX_TOKEN)
      throw new Error(`token ${i + 1} has ${token.length} characters; a token has ${MIN_TOKEN} to ${MAX_TOKEN} (openssl rand -hex 32 makes one)`);
    if (!/^[\x21-\x7e]+$/.test(token)) throw new Error(`token ${i + 1} holds a character that cannot travel in an Authorization header`);
  });
  return tokens;
}

/** Who may do what: a token's scope, compared in constant time (the hashes, so lengths leak nothing either). */
export class TokenBook {
  readonly #tokens: { digest: Buffer; scope: Scope }[];

  constructor(admin: readonly string[], read: readonly string[]) {
    this.#tokens = [
      ...admin.map((token) => ({ digest: digest(token), scope: 'admin' as const })),
      ...read.map((token) => ({ digest: digest(token), scope: 'read' as const })),
    ];
  }

  /** No token configured: the console listens on loopback only and lets every request do everything. */
  get open(): boolean {
    return this.#tokens.length === 0;
  }

  /** The scope of an Authorization header's bearer token; undefined when it is missing or unknown. */
  scopeOf(authorization: string | undefined): Scope | undefined {
    if (this.open) return 'admin';
    const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? '');
    if (!match) return undefined;
    const given = digest(match[1]!);
    let scope: Scope | undefined;
    // Every token is compared, whichever matches: the time taken says nothing of which.
    for (const token of this.#tokens) if (timingSafeEqual(token.digest, given) && scope !== 'admin') scope = token.scope;
    return scope;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** A loopback address: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}
