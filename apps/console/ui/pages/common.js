/** What every page uses: htm bound to Preact, hooks on the API and the events, small components. */
import { h } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { events, generation } from '../api.js';

export const html = htm.bind(h);

/** The current value of a store from api.js, re-rendering when it changes. */
export function useStore(source) {
  const [value, setValue] = useState(source.get());
  useEffect(() => {
    setValue(source.get());
    return source.subscribe(setValue);
  }, [source]);
  return value;
}

/**
 * Fetches once when the page opens (and again when `key` changes, a token is saved or the events
 * stream comes back); live updates come from events, never from polling.
 * Returns {data, error, loading, startedAt (when the fetch of `data` began), setData, reload}.
 */
export function useFetch(load, key = '') {
  const gen = useStore(generation);
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    const startedAt = Date.now();
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => current && setState({ data, error: null, loading: false, startedAt }),
      (error) => current && setState((previous) => ({ data: previous.data, error, loading: false })),
    );
    return () => {
      current = false;
    };
  }, [key, gen, tick]);
  const setData = useCallback((update) => setState((previous) => ({ ...previous, data: update(previous.data) })), []);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, setData, reload };
}

/** Calls `listener` with each event of `type` from GET /v1/events while the component is shown. */
export function useEvent(type, listener) {
  useEffect(() => events.on(type, listener), [type, listener]);
}

/** An API error as the problem it is: its detail, and each failing field by name. */
export function Problem({ error, testid = 'problem' }) {
  if (!error) return null;
  const problem = error.problem ?? { title: 'Error', detail: String(error.message ?? error) };
  const fields = Array.isArray(problem.errors) ? problem.errors : [];
  return html`<div class="problem" role="alert" data-testid=${testid}>
    <strong>${problem.title || 'Error'}${error.status ? ` (${error.status})` : ''}</strong>
    ${problem.detail ? html`<p data-testid="problem-detail">${problem.detail}</p>` : null}
    ${
      fields.length > 0
        ? html`<ul>
          ${fields.map((f) => html`<li data-testid="problem-field" data-field=${f.field}><code>${f.field}</code>: ${f.message}</li>`)}
        </ul>`
        : null
    }
  </div>`;
}

/** A progress bar of done out of total (total null: the split is still going). */
export function ProgressBar({ done, total, testid }) {
  const known = typeof total === 'number' && total > 0;
  const pct = known ? Math.min(100, (done / total) * 100) : 0;
  const label = known ? `${done} of ${total} (${pct.toFixed(0)}%)` : `${done} of ?`;
  return html`<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax=${known ? total : undefined} aria-valuenow=${done} aria-label=${label} data-testid=${testid}>
    <div class="progress-fill" style=${{ width: `${pct}%` }}></div>
    <span class="progress-text">${label}</span>
  </div>`;
}

export function StateBadge({ state, testid }) {
  return html`<span class=${`badge badge-${state}`} data-testid=${testid}>${state}</span>`;
}

export function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtRate(value) {
  if (value === null || value === undefined) return '–';
  return fmtNumber(value, value < 10 ? 1 : 0);
}

/** Seconds as "45 s", "3 min 20 s", "2 h 5 min". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 10) return `${fmtNumber(Math.max(0, seconds), 1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Epoch ms as local date and time. */
export function fmtTime(ms) {
  if (!ms) return '–';
  return new Date(ms).toLocaleString('en-GB', { hour12: false });
}

/** A value as short JSON for a table cell. */
export function brief(value, max = 120) {
  if (value === undefined || value === null) return '–';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const encode = encodeURIComponent;
