/** #/pipelines: every pipeline with its intake queue, rates and workers; pause, resume, rate limit. */
import { useCallback, useState } from 'preact/hooks';
import { get, post, put } from '../api.js';
import { encode, fmtNumber, fmtRate, html, Problem, useEvent, useFetch } from './common.js';

function RateLimit({ pipeline, onChange, onError }) {
  const [value, setValue] = useState(pipeline.rateLimit ?? '');
  const submit = async (event) => {
    event.preventDefault();
    const text = String(value).trim();
    try {
      onChange(await put(`/v1/pipelines/${encode(pipeline.name)}/rate-limit`, { jobsPerSecond: text === '' ? null : Number(text) }));
      onError(null);
    } catch (error) {
      onError(error);
    }
  };
  const id = `rate-${pipeline.name}`;
  return html`<form class="inline" onSubmit=${submit}>
    <label for=${id} class="sr-only">Rate limit of ${pipeline.name} (jobs/s, empty: each ventilator's own)</label>
    <input id=${id} type="number" min="0" step="1" size="6" placeholder="none" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} data-testid=${`pipeline-rate-input-${pipeline.name}`} />
    <button type="submit" data-testid=${`pipeline-rate-set-${pipeline.name}`}>Set limit</button>
  </form>`;
}

function Row({ pipeline, onChange, onError }) {
  const q = pipeline.queue ?? {};
  const toggle = async () => {
    try {
      onChange(await post(`/v1/pipelines/${encode(pipeline.name)}/${pipeline.paused ? 'resume' : 'pause'}`));
      onError(null);
    } catch (error) {
      onError(error);
    }
  };
  return html`<tr data-testid=${`pipeline-row-${pipeline.name}`}>
    <th scope="row"><a href=${`#/batches?pipeline=${encode(pipeline.name)}`}>${pipeline.name}</a></th>
    <td data-testid="pipeline-state">${pipeline.paused ? html`<span class="badge badge-paused">paused</span>` : html`<span class="badge badge-running">dispatching</span>`}${pipeline.accepting ? '' : html` <span class="badge">not taking submissions here</span>`}</td>
    <td class="num" data-testid="pipeline-queue-waiting">${fmtNumber(q.waiting)}</td>
    <td class="num" data-testid="pipeline-queue-active">${fmtNumber(q.active)}</td>
    <td class="num" data-testid="pipeline-queue-prioritized">${fmtNumber(q.prioritized)}</td>
    <td class="num" data-testid="pipeline-queue-delayed">${fmtNumber(q.delayed)}</td>
    <td class="num" data-testid="pipeline-queue-completed">${fmtNumber(q.completed)}</td>
    <td class="num" data-testid="pipeline-queue-failed">${fmtNumber(q.failed)}</td>
    <td class="num" data-testid="pipeline-jobs-waiting">${fmtNumber(pipeline.jobsWaiting)}</td>
    <td class="num" data-testid="pipeline-in-flight">${fmtNumber(pipeline.inFlight)}</td>
    <td class="num" data-testid="pipeline-workers">${fmtNumber(pipeline.workers)}</td>
    <td class="num" data-testid="pipeline-rate">${fmtRate(pipeline.jobsPerSecond)}</td>
    <td><${RateLimit} key=${pipeline.rateLimit} pipeline=${pipeline} onChange=${onChange} onError=${onError} /></td>
    <td>
      <button type="button" onClick=${toggle} data-testid=${`pipeline-${pipeline.paused ? 'resume' : 'pause'}-${pipeline.name}`}>
        ${pipeline.paused ? 'Resume dispatch' : 'Pause dispatch'}
      </button>
    </td>
  </tr>`;
}

export function PipelinesPage() {
  const { data, error, loading, setData } = useFetch(() => get('/v1/pipelines'));
  const [actionError, setActionError] = useState(null);
  useEvent(
    'pipelines',
    useCallback((body) => setData(() => body), [setData]),
  );
  const onChange = useCallback(
    (pipeline) => setData((body) => ({ ...body, pipelines: (body?.pipelines ?? []).map((p) => (p.name === pipeline.name ? pipeline : p)) })),
    [setData],
  );
  const pipelines = data?.pipelines ?? [];
  return html`<section data-testid="page-pipelines">
    <h2>Pipelines</h2>
    <${Problem} error=${error ?? actionError} />
    ${loading && !data ? html`<p>Loading…</p>` : null}
    ${
      data && pipelines.length === 0
        ? html`<p>No pipelines.</p>`
        : html`<div class="scroll"><table data-testid="pipelines-table">
          <thead>
            <tr><th rowspan="2" scope="col">Pipeline</th><th rowspan="2" scope="col">Dispatch</th><th colspan="6" scope="colgroup">Intake queue (batches)</th><th rowspan="2" scope="col">Jobs waiting</th><th rowspan="2" scope="col">In flight</th><th rowspan="2" scope="col">Workers</th><th rowspan="2" scope="col">Jobs/s</th><th rowspan="2" scope="col">Rate limit (jobs/s)</th><th rowspan="2" scope="col">Action</th></tr>
            <tr><th scope="col">waiting</th><th scope="col">active</th><th scope="col">prioritized</th><th scope="col">delayed</th><th scope="col">completed</th><th scope="col">failed</th></tr>
          </thead>
          <tbody>${pipelines.map((p) => html`<${Row} key=${p.name} pipeline=${p} onChange=${onChange} onError=${setActionError} />`)}</tbody>
        </table></div>`
    }
  </section>`;
}
