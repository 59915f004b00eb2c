/** Takes up to `want` tokens of a bucket that fills at `rate` per second and holds `burst`; resolves with how many it got. */
export type TakeTokens = (rate: number, burst: number, want: number) => Promise<number>;

/** How long a rate-limited ventilator's token bucket holds tokens at most: a tenth of a second's worth. */
const BURST_SECONDS = 0.1;

/**
 * Whether jobs may go now, and how many: none while the pipeline is paused, as many as the rate
 * limit's tokens allow while it has one (JOBPIPE_RATE_LIMIT, or `jobpipe limit`), any number
 * otherwise. Tokens come from a bucket shared by every ventilator of the pipeline (Redis), so the
 * rate holds over all of them; the gate asks for more in the background and wakes the dispatcher
 * (`notify`) when they come, or when the pipeline is resumed.
 */
export class DispatchGate {
  #paused = false;
  #rate = 0;
  #tokens = 0;
  #asking = false;
  #retry: NodeJS.Timeout | undefined;
  /** Times a pack waited for tokens (jobpipe_rate_limit_waits_total). */
  waits = 0;

  constructor(
    private readonly take: TakeTokens,
    private readonly notify: () => void,
    private readonly onError: (error: Error) => void = () => {},
    private readonly onWait: () => void = () => {},
  ) {}

  get paused(): boolean {
    return this.#paused;
  }

  /** Jobs per second at most; 0 for no limit. */
  get rate(): number {
    return this.#rate;
  }

  /** Paused or not, and the rate limit (0: none). Wakes the dispatcher when jobs may go again. */
  set(paused: boolean, rate: number): void {
    const opened = (this.#paused && !paused) || rate !== this.#rate;
    this.#paused = paused;
    if (rate !== this.#rate) {
      this.#rate = rate;
      this.#tokens = 0;
    }
    if (opened) this.notify();
  }

  /** How many of `want` jobs may go now (spend what is sent). */
  allowance(want: number): number {
    if (this.#paused) return 0;
    if (this.#rate <= 0) return want;
    if (this.#tokens < want) this.#refill(want);
    const allowed = Math.min(want, Math.floor(this.#tokens));
    if (allowed === 0) {
      this.waits++;
      this.onWait();
    }
    return allowed;
  }

  /** `count` jobs went. */
  spend(count: number): void {
    if (this.#rate > 0) this.#tokens = Math.max(0, this.#tokens - count);
  }

  stop(): void {
    clearTimeout(this.#retry);
  }

  #refill(want: number): void {
    if (this.#asking || this.#retry) return;
    this.#asking = true;
    const rate = this.#rate;
    const burst = Math.max(1, Math.ceil(rate * BURST_SECONDS));
    this.take(rate, burst, Math.max(1, Math.min(burst, want - Math.floor(this.#tokens)))).then(
      (got) => {
        this.#asking = false;
        if (rate !== this.#rate) return;
        this.#tokens += got;
        if (got > 0) return this.notify();
        // None left: ask again once one has had time to come.
        this.#retry = setTimeout(
          () => {
            this.#retry = undefined;
            this.notify();
          },
          Math.max(5, Math.ceil(1000 / rate)),
        );
      },
      (error: Error) => {
        this.#asking = false;
        this.onError(error);
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          this.notify();
        }, 500);
      },
    );
  }
}

/** A token bucket in this process: the rate limit of a ventilator without Redis. */
export function localTokens(clock: () => number = Date.now): TakeTokens {
  let tokens: number | undefined;
  let at = 0;
  return async (rate, burst, want) => {
    const now = clock();
    tokens = tokens === undefined ? burst : Math.min(burst, tokens + ((now - at) * rate) / 1000);
    at = now;
    const taken = Math.min(want, Math.floor(tokens));
    tokens -= taken;
    return taken;
  };
}
