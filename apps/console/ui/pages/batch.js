/**
 * #/batches/<id>: one batch, its progress over time (history plus live `batch` events), jobs per
 * worker, dead letters with their errors (retry, purge), its results page by page, and cancel.
 */
import { useCallback, useRef, useState } from 'preact/hooks';
import { get, post, put } from '../api.js';
import { summaryText } from './batches.js';
import { encode, fmtDuration, fmtNumber, fmtRate, fmtTime, html, Problem, ProgressBar, StateBadge, useEvent, useFetch } from './common.js';

const RESULTS_PAGE = 20;

/** Done over time as an inline SVG line. */
export function HistoryChart({ history, total }) {
  const points = (history ?? []).filter((p) => Number.isFinite(p.at) && Number.isFinite(p.done));
  if (points.length === 0) return html`<p data-testid="history-empty">No progress recorded yet.</p>`;
  const width = 560;
  const height = 150;
  const left = 48;
  const bottom = 22;
  const t0 = points[0].at;
  const t1 = Math.max(points[points.length - 1].at, t0 + 1000);
  const top = Math.max(total ?? 0, ...points.map((p) => p.done), 1);
  const x = (at) => left + ((at - t0) / (t1 - t0)) * (width - left - 8);
  const y = (done) => 8 + (1 - done / top) * (height - bottom - 8);
  const line = points.map((p) => `${x(p.at).toFixed(1)},${y(p.done).toFixed(1)}`).join(' ');
  const last = points[points.length - 1];
  const label = `Jobs done over ${fmtDuration((t1 - t0) / 1000)}: from ${points[0].done} to ${last.done} of ${total ?? '?'}`;
  return html`<svg class="chart" viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${label} data-testid="history-chart" data-points=${points.length}>
    <title>${label}</title>
    <line x1=${left} y1=${y(top)} x2=${width - 8} y2=${y(top)} class="grid" />
    <line x1=${left} y1=${y(0)} x2=${width - 8} y2=${y(0)} class="axis" />
    <line x1=${left} y1="8" x2=${left} y2=${y(0)} class="axis" />
    <text x=${left - 6} y=${y(top) + 4} text-anchor="end">${fmtNumber(top)}</text>
    <text x=${left - 6} y=${y(0) + 4} text-anchor="end">0</text>
    <text x=${left} y=${height - 4}>${new Date(t0).toLocaleTimeString('en-GB', { hour12: false })}</text>
    <text x=${width - 8} y=${height - 4} text-anchor="end">+${fmtDuration((t1 - t0) / 1000)}</text>
    <polyline points=${line} class="line" />
    <circle cx=${x(last.at)} cy=${y(last.done)} r="3" class="dot" />
  </svg>`;
}

function PerWorker({ perWorker }) {
  const entries = Object.entries(perWorker ?? {}).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return html`<p>No job recorded yet.</p>`;
  const total = entries.reduce((n, [, count]) => n + count, 0);
  return html`<table data-testid="per-worker-table">
    <thead><tr><th scope="col">Worker</th><th scope="col">Jobs</th><th scope="col">Share</th></tr></thead>
    <tbody>
      ${entries.map(
        ([worker, count]) => html`<tr data-testid=${`per-worker-${worker}`}>
          <th scope="row"><code>${worker}</code></th><td class="num">${fmtNumber(count)}</td><td class="num">${fmtNumber((count / total) * 100, 0)}%</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function DeadLetters({ id, version, onAction }) {
  const { data, error } = useFetch(() => get(`/v1/batches/${encode(id)}/dead`), `${id}|${version}`);
  const letters = data?.deadLetters ?? [];
  const act = async (what, seqs) => {
    if (what === 'purge' && !confirm(`Purge ${seqs ? `dead letter ${seqs.join(', ')}` : 'every dead letter'} of ${id}? Purged jobs never run again.`)) return;
    try {
      const body = await post(`/v1/batches/${encode(id)}/dead/${what}`, seqs ? { seqs } : {});
      onAction(what === 'retry' ? `Sent ${body.retried} dead letter(s) round again.` : `Purged ${body.purged} dead letter(s).`, null);
    } catch (e) {
      onAction(null, e);
    }
  };
  return html`<section aria-labelledby="dead-title" data-testid="dead-letters">
    <h3 id="dead-title">Dead letters (${letters.length})</h3>
    <${Problem} error=${error} />
    ${
      letters.length === 0
        ? html`<p data-testid="no-dead-letters">None.</p>`
        : html`<div class="actions">
            <button type="button" onClick=${() => act('retry')} data-testid="dead-retry-all">Retry all dead letters</button>
            <button type="button" class="danger" onClick=${() => act('purge')} data-testid="dead-purge-all">Purge all dead letters</button>
          </div>
          <table data-testid="dead-table">
            <thead><tr><th scope="col">Job</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              ${letters.map(
                (d) => html`<tr data-testid=${`dead-row-${d.seq}`}>
                  <th scope="row">${d.seq}</th>
                  <td class="num">${d.attempts}</td>
                  <td class="error" data-testid="dead-error"><strong>${d.error?.name ?? 'Error'}</strong>: ${d.error?.message ?? ''}</td>
                  <td>
                    <button type="button" onClick=${() => act('retry', [d.seq])} data-testid=${`dead-retry-${d.seq}`}>Retry job ${d.seq}</button>
                    <button type="button" class="danger" onClick=${() => act('purge', [d.seq])}>Purge job ${d.seq}</button>
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

function Results({ id, version }) {
  const [cursors, setCursors] = useState([null]);
  const cursor = cursors[cursors.length - 1];
  const query = new URLSearchParams({ limit: String(RESULTS_PAGE) });
  if (cursor) query.set('cursor', cursor);
  const { data, error, loading } = useFetch(() => get(`/v1/batches/${encode(id)}/results?${query}`), `${id}|${cursor}|${version}`);
  const results = data?.results ?? [];
  return html`<section aria-labelledby="results-title" data-testid="results">
    <h3 id="results-title">Results, page ${cursors.length}</h3>
    <${Problem} error=${error} />
    ${
      results.length === 0
        ? html`<p data-testid="no-results">${loading ? 'Loading…' : 'No results on this page.'}</p>`
        : html`<table data-testid="results-table">
          <thead><tr><th scope="col">Job</th><th scope="col">Value</th></tr></thead>
          <tbody>${results.map((r) => html`<tr><th scope="row">${r.seq}</th><td><code>${JSON.stringify(r.value)}</code></td></tr>`)}</tbody>
        </table>`
    }
    <div class="actions">
      <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))} data-testid="results-previous">Previous page</button>
      <button type="button" disabled=${!data?.next} onClick=${() => setCursors([...cursors, data.next])} data-testid="results-next">Next page</button>
    </div>
  </section>`;
}

function Priority({ id, onDone }) {
  const [value, setValue] = useState('');
  const submit = async (event) => {
    event.preventDefault();
    try {
      onDone(await put(`/v1/batches/${encode(id)}/priority`, { priority: Number(value) }), null);
    } catch (e) {
      onDone(null, e);
    }
  };
  return html`<form class="inline" onSubmit=${submit}>
    <label for="priority">Priority</label>
    <input id="priority" type="number" min="0" step="1" size="6" required value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />
    <button type="submit">Set priority</button>
  </form>`;
}

export function BatchPage({ id }) {
  const { data, error, setData, reload } = useFetch(() => get(`/v1/batches/${encode(id)}`), id);
  const [message, setMessage] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [version, setVersion] = useState(0);
  const seen = useRef({ state: null, failed: null, fetchedAt: 0 });
  if (data && seen.current.state === null) seen.current = { state: data.state, failed: data.failed, fetchedAt: Date.now() };

  const refresh = useCallback(() => {
    seen.current.fetchedAt = Date.now();
    reload();
    setVersion((v) => v + 1);
  }, [reload]);

  useEvent(
    'batch',
    useCallback(
      (status) => {
        if (status.batch !== id) return;
        setData((d) => (d ? { ...d, ...status, history: [...(d.history ?? []), { at: Date.now(), done: status.done }] } : d));
        // What the event does not carry (per-worker counts, dead letters, results): fetched
        // again when the state or the failures change, and at most every 2 s while events come.
        const last = seen.current;
        const changed = status.state !== last.state || status.failed !== last.failed;
        seen.current = { ...last, state: status.state, failed: status.failed };
        if (changed || Date.now() - last.fetchedAt > 2000) refresh();
      },
      [id, setData, refresh],
    ),
  );

  const onAction = (text, e) => {
    setMessage(text);
    setActionError(e);
    refresh();
  };
  const cancel = async () => {
    if (!confirm(`Cancel batch ${id}? Jobs not yet sent never run; running ones are aborted.`)) return;
    try {
      const body = await post(`/v1/batches/${encode(id)}/cancel`);
      setData((d) => ({ ...d, ...body.batch }));
      onAction(body.cancelled ? `Batch ${id} cancelled.` : `Batch ${id} had ended already: nothing cancelled.`, null);
    } catch (e) {
      onAction(null, e);
    }
  };

  if (error && !data)
    return html`<section data-testid="page-batch"><h2>Batch ${id}</h2><${Problem} error=${error} /><p><a href="#/batches">All batches</a></p></section>`;
  if (!data) return html`<section data-testid="page-batch"><h2>Batch ${id}</h2><p>Loading…</p></section>`;
  const b = data;
  const open = b.state === 'queued' || b.state === 'running';
  return html`<section data-testid="page-batch">
    <p class="crumbs"><a href="#/batches">Batches</a> / <a href=${`#/batches?pipeline=${encode(b.pipeline)}`}>${b.pipeline}</a></p>
    <h2>Batch <code>${b.batch}</code> <${StateBadge} state=${b.state} testid="batch-state" /></h2>
    <${Problem} error=${actionError ?? error} />
    ${message ? html`<p class="notice" role="status" data-testid="action-message">${message}</p>` : null}
    <${ProgressBar} done=${b.done} total=${b.total} testid="batch-progress" />
    <dl class="figures">
      <div><dt>Done</dt><dd data-testid="batch-done">${fmtNumber(b.done)}</dd></div>
      <div><dt>Total</dt><dd data-testid="batch-total">${b.total === null ? '?' : fmtNumber(b.total)}</dd></div>
      <div><dt>Failed</dt><dd data-testid="batch-failed">${fmtNumber(b.failed)}</dd></div>
      <div><dt>Cancelled</dt><dd data-testid="batch-cancelled">${fmtNumber(b.cancelled)}</dd></div>
      <div><dt>Dead letters</dt><dd data-testid="batch-dead">${fmtNumber(b.deadLetters)}</dd></div>
      <div><dt>Jobs/s</dt><dd data-testid="batch-rate">${fmtRate(b.jobsPerSecond)}</dd></div>
      <div><dt>ETA</dt><dd data-testid="batch-eta">${b.state === 'running' ? fmtDuration(b.etaSeconds) : '–'}</dd></div>
      <div><dt>Submitted</dt><dd>${fmtTime(b.submittedAt)}</dd></div>
    </dl>
    ${
      open
        ? html`<div class="actions">
          <button type="button" class="danger" onClick=${cancel} data-testid="batch-cancel">Cancel this batch</button>
          ${b.state === 'queued' ? html`<${Priority} id=${id} onDone=${(status, e) => (status ? (setData((d) => ({ ...d, ...status })), onAction('Priority set.', null)) : onAction(null, e))} />` : null}
        </div>`
        : null
    }
    ${b.error ? html`<p class="error" data-testid="batch-error">${b.error}</p>` : null}
    ${b.summary ? html`<h3>Summary</h3><p data-testid="batch-summary">${summaryText(b.summary)}</p><details><summary>Whole summary (JSON)</summary><pre>${JSON.stringify(b.summary, null, 2)}</pre></details>` : null}
    <div class="columns">
      <section aria-labelledby="history-title">
        <h3 id="history-title">Progress over time</h3>
        <${HistoryChart} history=${b.history} total=${b.total} />
      </section>
      <section aria-labelledby="workers-title">
        <h3 id="workers-title">Jobs per worker</h3>
        <${PerWorker} perWorker=${b.perWorker} />
      </section>
    </div>
    <${DeadLetters} id=${id} version=${version} onAction=${onAction} />
    <${Results} id=${id} version=${`${b.state}|${version}`} />
  </section>`;
}
