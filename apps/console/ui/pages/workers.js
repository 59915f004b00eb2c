/** #/workers: connected workers, their slots (busy and free), rates and the pool's balance. */
import { useCallback } from 'preact/hooks';
import { get } from '../api.js';
import { fmtNumber, fmtRate, html, Problem, useEvent, useFetch } from './common.js';

function ago(ms) {
  if (!ms) return '–';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 1 ? 'now' : `${s} s ago`;
}

/** Its slots and how many run, as its Credit says; a worker that does not say is shown by its window (held + credit). */
function load(worker) {
  const held = worker.held ?? 0;
  if (worker.slots !== null && worker.slots !== undefined) return { slots: worker.slots, busy: worker.busy ?? Math.min(held, worker.slots) };
  return { slots: held + (worker.credit ?? 0), busy: held };
}

function Row({ worker }) {
  const { slots, busy } = load(worker);
  const pct = slots > 0 ? Math.min(100, (busy / slots) * 100) : 0;
  return html`<tr data-testid=${`worker-row-${worker.id}`}>
    <th scope="row"><code>${worker.id}</code></th>
    <td>${worker.pipeline}</td>
    <td class="num" data-testid="worker-slots">${fmtNumber(slots)}</td>
    <td class="num" data-testid="worker-busy">${fmtNumber(busy)}</td>
    <td class="num" data-testid="worker-held">${fmtNumber(worker.held)}</td>
    <td class="num">${fmtNumber(worker.credit)}</td>
    <td><div class="meter" role="img" aria-label=${`${busy} of ${slots} slots busy`}><div style=${{ width: `${pct}%` }}></div></div></td>
    <td class="num">${fmtNumber(worker.sent)}</td>
    <td class="num" data-testid="worker-rate">${fmtRate(worker.jobsPerSecond)}</td>
    <td>${worker.draining ? html`<span class="badge badge-paused">draining</span>` : 'serving'}</td>
    <td>${ago(worker.lastSeenAt)}</td>
  </tr>`;
}

export function WorkersPage() {
  const { data, error, loading, setData } = useFetch(() => get('/v1/workers'));
  useEvent(
    'workers',
    useCallback((body) => setData(() => body), [setData]),
  );
  const workers = data?.workers ?? [];
  const busy = workers.reduce((n, w) => n + load(w).busy, 0);
  const slots = workers.reduce((n, w) => n + load(w).slots, 0);
  const rate = workers.reduce((n, w) => n + (w.jobsPerSecond ?? 0), 0);
  return html`<section data-testid="page-workers">
    <h2>Workers</h2>
    <${Problem} error=${error} />
    ${loading && !data ? html`<p>Loading…</p>` : null}
    ${
      data
        ? html`<dl class="figures">
        <div><dt>Workers</dt><dd data-testid="workers-count">${workers.length}</dd></div>
        <div><dt>Slots busy</dt><dd data-testid="workers-busy">${busy} of ${slots}</dd></div>
        <div><dt>Jobs/s</dt><dd data-testid="workers-rate">${fmtRate(rate)}</dd></div>
        <div><dt>Balance</dt><dd data-testid="workers-balance" title="How evenly the load is spread over the workers (1: even)">${data.balance === null || data.balance === undefined ? '–' : fmtNumber(data.balance, 2)}</dd></div>
      </dl>`
        : null
    }
    ${
      data && workers.length === 0
        ? html`<p data-testid="no-workers">No worker is connected.</p>`
        : data
          ? html`<div class="scroll"><table data-testid="workers-table">
        <thead><tr><th scope="col">Worker</th><th scope="col">Pipeline</th><th scope="col">Slots</th><th scope="col">Busy</th><th scope="col">Held</th><th scope="col">Credit</th><th scope="col">Load</th><th scope="col">Jobs sent</th><th scope="col">Jobs/s</th><th scope="col">State</th><th scope="col">Last seen</th></tr></thead>
        <tbody>${workers.map((w) => html`<${Row} key=${`${w.id}/${w.pipeline}`} worker=${w} />`)}</tbody>
      </table></div>`
          : null
    }
    <p class="hint">Slots: the jobs a worker runs at once, as it says (a worker that does not say shows held + credit). Busy: of those, how many run now. Held: jobs sent to it and not yet recorded (running, or prefetched). Credit: the further jobs it asked for. Balance: Jain's fairness index of the workers' jobs/s (1: even).</p>
  </section>`;
}
