/** #/batches: the newest batches, filtered by state and pipeline, kept up to date by `batch` events. */
import { useCallback, useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { brief, encode, fmtDuration, fmtNumber, fmtRate, fmtTime, html, Problem, ProgressBar, StateBadge, useEvent, useFetch } from './common.js';

const STATES = ['queued', 'running', 'done', 'failed'];

/** A summary in a few words: jobs, failed, time and the pipeline's answer. */
export function summaryText(summary) {
  if (!summary) return '–';
  const parts = [`${fmtNumber(summary.jobs)} jobs`];
  if (summary.failed) parts.push(`${fmtNumber(summary.failed)} failed`);
  if (summary.cancelled) parts.push(`${fmtNumber(summary.cancelled)} cancelled`);
  if (summary.wallSeconds !== undefined) parts.push(fmtDuration(summary.wallSeconds));
  return `${parts.join(', ')}; answer ${brief(summary.answer, 80)}`;
}

/** The fetched list with the statuses heard since that fetch began: newer states, new batches first. */
function withHeard(fetched, heard, since, state, pipeline) {
  const matches = (b) => (!state || b.state === state) && (!pipeline || b.pipeline === pipeline);
  const newer = new Map();
  for (const [id, { status, at }] of heard) {
    if (at < since) heard.delete(id);
    else newer.set(id, status);
  }
  const known = new Set(fetched.map((b) => b.batch));
  const added = [...newer.values()].filter((b) => !known.has(b.batch) && matches(b)).sort((a, b) => (b.submittedAt ?? 0) - (a.submittedAt ?? 0));
  return [...added, ...fetched.map((b) => newer.get(b.batch) ?? b).filter(matches)];
}

function setFilter(query, name, value) {
  const next = new URLSearchParams(query);
  if (value) next.set(name, value);
  else next.delete(name);
  const text = next.toString();
  location.hash = `#/batches${text ? `?${text}` : ''}`;
}

function Row({ batch }) {
  const id = batch.batch;
  return html`<tr data-testid=${`batch-row-${id}`}>
    <th scope="row"><a href=${`#/batches/${encode(id)}`}>${id}</a></th>
    <td>${batch.pipeline}</td>
    <td><${StateBadge} state=${batch.state} testid="batch-state" /></td>
    <td class="wide"><${ProgressBar} done=${batch.done} total=${batch.total} /></td>
    <td class="num" data-testid="batch-done">${fmtNumber(batch.done)}</td>
    <td class="num" data-testid="batch-total">${batch.total === null ? '?' : fmtNumber(batch.total)}</td>
    <td class="num" data-testid="batch-failed">${fmtNumber(batch.failed)}</td>
    <td class="num" data-testid="batch-cancelled">${fmtNumber(batch.cancelled)}</td>
    <td class="num">${fmtRate(batch.jobsPerSecond)}</td>
    <td data-testid="batch-eta">${batch.state === 'running' ? fmtDuration(batch.etaSeconds) : '–'}</td>
    <td class="nowrap">${fmtTime(batch.submittedAt)}</td>
    <td class="summary" data-testid="batch-summary">${batch.error ? html`<span class="error">${batch.error}</span>` : summaryText(batch.summary)}</td>
  </tr>`;
}

export function BatchesPage({ query }) {
  const state = query.get('state') ?? '';
  const pipeline = query.get('pipeline') ?? '';
  const search = new URLSearchParams();
  if (state) search.set('state', state);
  if (pipeline) search.set('pipeline', pipeline);
  const path = `/v1/batches${search.toString() ? `?${search}` : ''}`;
  const { data, error, loading, startedAt } = useFetch(() => get(path), path);
  const pipelines = useFetch(() => get('/v1/pipelines'));
  // What the `batch` events said, drawn over the list fetched: a fetch that began before an event
  // and ended after it must not take the newer state back.
  const heard = useRef(new Map());
  const [, setHeard] = useState(0);
  const onBatch = useCallback((status) => {
    heard.current.set(status.batch, { status, at: Date.now() });
    setHeard((n) => n + 1);
  }, []);
  useEvent('batch', onBatch);
  const batches = withHeard(data?.batches ?? [], heard.current, startedAt ?? 0, state, pipeline);
  return html`<section data-testid="page-batches">
    <h2>Batches</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label for="filter-state">State</label>
      <select id="filter-state" value=${state} onChange=${(e) => setFilter(query, 'state', e.currentTarget.value)} data-testid="filter-state">
        <option value="">any</option>
        ${STATES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <label for="filter-pipeline">Pipeline</label>
      <select id="filter-pipeline" value=${pipeline} onChange=${(e) => setFilter(query, 'pipeline', e.currentTarget.value)} data-testid="filter-pipeline">
        <option value="">any</option>
        ${(pipelines.data?.pipelines ?? []).map((p) => html`<option value=${p.name}>${p.name}</option>`)}
      </select>
      <a class="button" href="#/submit">Submit a batch</a>
    </form>
    <${Problem} error=${error} />
    ${loading && !data ? html`<p>Loading…</p>` : null}
    ${
      data && batches.length === 0
        ? html`<p data-testid="no-batches">No batches${state ? ` in state ${state}` : ''}${pipeline ? ` of ${pipeline}` : ''}.</p>`
        : data
          ? html`<div class="scroll"><table data-testid="batches-table">
        <thead><tr><th scope="col">Batch</th><th scope="col">Pipeline</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Done</th><th scope="col">Total</th><th scope="col">Failed</th><th scope="col">Cancelled</th><th scope="col">Jobs/s</th><th scope="col">ETA</th><th scope="col">Submitted</th><th scope="col">Summary</th></tr></thead>
        <tbody>${batches.map((b) => html`<${Row} key=${b.batch} batch=${b} />`)}</tbody>
      </table></div>`
          : null
    }
  </section>`;
}
