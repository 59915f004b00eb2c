/** The console's shell: hash routes, navigation, the token form and the live indicator. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { authNeeded, events, liveState, saveToken } from './api.js';
import { BatchPage } from './pages/batch.js';
import { BatchesPage } from './pages/batches.js';
import { html, useStore } from './pages/common.js';
import { PipelinesPage } from './pages/pipelines.js';
import { SubmitPage } from './pages/submit.js';
import { WorkersPage } from './pages/workers.js';

const NAV = [
  ['#/pipelines', 'Pipelines'],
  ['#/batches', 'Batches'],
  ['#/workers', 'Workers'],
  ['#/submit', 'Submit a batch'],
];

/** `#/batches/<id>?x=1` as {path: ['batches', '<id>'], query: URLSearchParams}. */
export function parseHash(hash) {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return parseHash(hash);
}

function TokenForm() {
  const [value, setValue] = useState('');
  const submit = (event) => {
    event.preventDefault();
    saveToken(value.trim());
  };
  return html`<form class="token" onSubmit=${submit} data-testid="token-form">
    <p>The console needs a token (401). It is kept in this tab only (sessionStorage).</p>
    <label for="token-input">API token</label>
    <input id="token-input" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} required minlength="16" data-testid="token-input" />
    <button type="submit" data-testid="token-save">Use this token</button>
  </form>`;
}

function Page({ route }) {
  const [first, second] = route.path;
  if (first === 'batches' && second) return html`<${BatchPage} key=${second} id=${second} />`;
  if (first === 'batches') return html`<${BatchesPage} query=${route.query} />`;
  if (first === 'workers') return html`<${WorkersPage} />`;
  if (first === 'submit') return html`<${SubmitPage} query=${route.query} />`;
  if (first === undefined || first === 'pipelines') return html`<${PipelinesPage} />`;
  return html`<p data-testid="not-found">No page here. <a href="#/pipelines">See the pipelines</a>.</p>`;
}

function App() {
  const route = useRoute();
  const needToken = useStore(authNeeded);
  const live = useStore(liveState);
  const section = route.path[0] ?? 'pipelines';
  return html`<header class="top">
      <h1><a href="#/pipelines">jobpipe console</a></h1>
      <nav aria-label="Sections">
        ${NAV.map(
          ([href, label]) =>
            html`<a href=${href} aria-current=${href.slice(2) === section ? 'page' : undefined} data-testid=${`nav-${href.slice(2)}`}>${label}</a>`,
        )}
      </nav>
      <span class=${`live live-${live.replace(' ', '-')}`} data-testid="live-state" title="Server-sent events from GET /v1/events">${live === 'live' ? '● live' : live}</span>
    </header>
    ${needToken ? html`<${TokenForm} />` : null}
    <main><${Page} route=${route} /></main>`;
}

events.start();
const root = document.getElementById('app');
root.textContent = ''; // the "Loading" line: Preact appends to what is there
render(html`<${App} />`, root);
