/** Reads one counter from a process's Prometheus /metrics text. */

/**
 * The sum of `name`'s samples in Prometheus text (over all label sets), 0 when the counter has no
 * sample yet (prom-client prints none for a labelled counter never incremented).
 */
export function counterValue(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (match && match[1] === name) sum += Number(match[3]);
  }
  return sum;
}

/** GET `url` and return counterValue(name); undefined when the process does not answer. */
export async function scrapeCounter(url, name, timeoutMs = 2000) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return counterValue(await response.text(), name);
  } catch {
    return undefined;
  }
}
