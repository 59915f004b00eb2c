/** Reads one counter from a process's /metrics, with the project's own Prometheus text reader. */
import { metricValue } from '@jobpipe/observability';

/** GET `url` and return the sum of counter `name` (0 before its first sample); undefined when the process does not answer. */
export async function scrapeCounter(url, name, timeoutMs = 2000) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return metricValue(await response.text(), name) ?? 0;
  } catch {
    return undefined;
  }
}

/** GET `url` and return { name: value } for each of `names` (the sum of its samples; null when absent); undefined when the process does not answer. */
export async function scrapeValues(url, names, timeoutMs = 2000) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    const text = await response.text();
    return Object.fromEntries(names.map((name) => [name, metricValue(text, name) ?? null]));
  } catch {
    return undefined;
  }
}
