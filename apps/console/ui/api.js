/**
 * The console's API from the browser: JSON requests with the bearer token kept in sessionStorage,
 * RFC 9457 problems as ApiError, and the server-sent events of GET /v1/events read with fetch()
 * (so the Authorization header goes along), reconnecting whenever the stream is lost.
 */

const TOKEN_KEY = 'jobpipe-console-token';

/** A value that components can watch (see useStore in pages/common.js). */
export function store(initial) {
  let value = initial;
  const watchers = new Set();
  return {
    get: () => value,
    set(next) {
      if (Object.is(next, value)) return;
      value = next;
      for (const watcher of watchers) watcher(value);
    },
    subscribe(watcher) {
      watchers.add(watcher);
      return () => watchers.delete(watcher);
    },
  };
}

/** True once the API answered 401: the shell then asks for a token. */
export const authNeeded = store(false);
/** Bumped when a token is saved or the events stream comes back: pages fetch their data again. */
export const generation = store(0);
/** The events stream: 'connecting', 'live', 'reconnecting' or 'token needed'. */
export const liveState = store('connecting');

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function saveToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  authNeeded.set(false);
  generation.set(generation.get() + 1);
  events.restart();
}

function headers(extra = {}) {
  const bearer = token();
  return bearer ? { ...extra, Authorization: `Bearer ${bearer}` } : extra;
}

/** An answer other than 2xx: `problem` is its RFC 9457 body ({title, detail, errors}). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Sends a request to the API and returns its JSON body; throws ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: headers({ Accept: 'application/json' }) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, { title: 'The console did not answer', detail: `${method} ${path}: ${error.message}` });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) return json;
  if (response.status === 401) authNeeded.set(true);
  const problem = json && typeof json === 'object' ? json : { title: response.statusText, detail: text.slice(0, 300) };
  if (response.status === 403 && !problem.detail) problem.detail = 'This token may only read: actions need an admin token.';
  throw new ApiError(response.status, problem);
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);

/** Splits a text/event-stream into events ({type, data}); `feed` takes chunks of text. */
export function sseParser(onEvent) {
  let buffer = '';
  let type = '';
  let data = [];
  const line = (text) => {
    if (text === '') {
      if (data.length > 0) onEvent({ type: type || 'message', data: data.join('\n') });
      type = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  };
  return {
    feed(chunk) {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const text of lines) line(text.endsWith('\r') ? text.slice(0, -1) : text);
    },
  };
}

/** The one events stream of this page, shared by every component that listens. */
class EventStream {
  #listeners = new Map();
  #controller = null;
  #running = false;
  #wasLive = false;

  on(type, listener) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(listener);
    return () => this.#listeners.get(type).delete(listener);
  }

  start() {
    if (this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  /** Reconnects now (a new token). */
  restart() {
    this.#controller?.abort();
    if (!this.#running) this.start();
  }

  #emit(event) {
    let value;
    try {
      value = JSON.parse(event.data);
    } catch {
      return;
    }
    for (const listener of this.#listeners.get(event.type) ?? []) listener(value);
  }

  async #loop() {
    let delay = 500;
    for (;;) {
      this.#controller = new AbortController();
      try {
        const response = await fetch('/v1/events', { headers: headers({ Accept: 'text/event-stream' }), signal: this.#controller.signal });
        if (response.status === 401) {
          authNeeded.set(true);
          liveState.set('token needed');
          await new Promise((resolve) => {
            const stop = authNeeded.subscribe((needed) => {
              if (!needed) {
                stop();
                resolve();
              }
            });
          });
          continue;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        liveState.set('live');
        if (this.#wasLive) generation.set(generation.get() + 1); // what happened while it was away
        this.#wasLive = true;
        delay = 500;
        const parser = sseParser((event) => this.#emit(event));
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        // lost or aborted: connect again below
      }
      liveState.set('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }
}

export const events = new EventStream();
