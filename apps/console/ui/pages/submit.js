/** #/submit: a batch from a form. The console checks the input against the pipeline's schema. */
import { useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.js';
import { encode, html, Problem, useFetch } from './common.js';

/** Which form control a problem's field path names: `input.limit` is the input, `body.priority` the priority. */
function controlOf(field) {
  const path = String(field ?? '').replace(/^body\./, '');
  if (path === 'input' || path.startsWith('input.') || path.startsWith('input[')) return 'input';
  for (const name of ['batchId', 'priority', 'retention', 'deadRetention']) if (path === name || path.startsWith(`${name}.`)) return name;
  if (path === 'pipeline' || path.startsWith('params.')) return 'pipeline';
  return null;
}

function Field({ name, label, hint, errors, children }) {
  const mine = errors.filter((e) => controlOf(e.field) === name);
  return html`<div class=${`field${mine.length > 0 ? ' invalid' : ''}`} data-testid=${`field-${name}`}>
    <label for=${`submit-${name}`}>${label}</label>
    ${children}
    ${hint ? html`<small id=${`submit-${name}-hint`}>${hint}</small>` : null}
    ${mine.map((e) => html`<p class="field-error" id=${`submit-${name}-error`} data-testid="field-error" data-field=${e.field}><code>${e.field}</code>: ${e.message}</p>`)}
  </div>`;
}

export function SubmitPage({ query }) {
  const pipelines = useFetch(() => get('/v1/pipelines'));
  const names = (pipelines.data?.pipelines ?? []).filter((p) => p.accepting !== false).map((p) => p.name);
  const [form, setForm] = useState({ pipeline: query.get('pipeline') ?? '', input: '{\n  \n}', batchId: '', priority: '' });
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const pipeline = form.pipeline || names[0] || '';
  const errors = problem?.problem?.errors ?? [];
  const set = (name) => (e) => setForm({ ...form, [name]: e.currentTarget.value });
  const invalid = (name) => (errors.some((e) => controlOf(e.field) === name) ? 'true' : undefined);

  const submit = async (event) => {
    event.preventDefault();
    let input;
    try {
      input = JSON.parse(form.input);
    } catch (error) {
      setProblem(new ApiError(0, { title: 'The input is not JSON', detail: error.message, errors: [{ field: 'input', message: 'not valid JSON' }] }));
      return;
    }
    const body = { input };
    if (form.batchId.trim()) body.batchId = form.batchId.trim();
    if (form.priority.trim()) body.priority = Number(form.priority);
    setBusy(true);
    try {
      const status = await post(`/v1/pipelines/${encode(pipeline)}/batches`, body);
      setProblem(null);
      location.hash = `#/batches/${encode(status.batch)}`;
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };

  return html`<section data-testid="page-submit">
    <h2>Submit a batch</h2>
    <form class="submit" onSubmit=${submit} novalidate data-testid="submit-form">
      <${Field} name="pipeline" label="Pipeline" errors=${errors}>
        <select id="submit-pipeline" value=${pipeline} onChange=${set('pipeline')} aria-invalid=${invalid('pipeline')} data-testid="submit-pipeline">
          ${names.map((name) => html`<option value=${name}>${name}</option>`)}
        </select>
      <//>
      <${Field} name="input" label="Input (JSON)" hint="What the pipeline splits into jobs; the console checks it against the pipeline's schema." errors=${errors}>
        <textarea id="submit-input" rows="8" spellcheck="false" value=${form.input} onInput=${set('input')} aria-invalid=${invalid('input')} aria-describedby="submit-input-hint" data-testid="submit-input"></textarea>
      <//>
      <${Field} name="batchId" label="Batch id (optional)" hint="One is made up when empty." errors=${errors}>
        <input id="submit-batchId" type="text" value=${form.batchId} onInput=${set('batchId')} aria-invalid=${invalid('batchId')} data-testid="submit-batch-id" />
      <//>
      <${Field} name="priority" label="Priority (optional)" hint="BullMQ priority: lower runs first." errors=${errors}>
        <input id="submit-priority" type="number" min="0" step="1" value=${form.priority} onInput=${set('priority')} aria-invalid=${invalid('priority')} data-testid="submit-priority" />
      <//>
      <${Problem} error=${problem} testid="submit-problem" />
      <button type="submit" disabled=${busy || !pipeline} data-testid="submit-button">Submit the batch</button>
    </form>
  </section>`;
}
