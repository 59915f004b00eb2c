/**
 * Polls `probe` every `intervalMs` until it returns true. Anything else it returns, or throws, is
 * what it saw last, which the timeout's error names.
 */
export async function pollUntil(what: string, timeoutMs: number, probe: () => Promise<boolean | string>, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const result = await probe();
      if (result === true) return;
      last = String(result);
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
