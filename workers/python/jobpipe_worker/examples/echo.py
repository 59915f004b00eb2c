"""Pipeline `echo`: the work of examples/echo/src/pipeline.ts, for benchmarks and tests.

Payload {"i", "workMs", "spin", "fail", "pad", optional "t", "mark", "first"}; returns what the
TypeScript handler returns, so the sink's summarize accepts it: `i`, or {"i", "t", "w"} for a paced
job (w: when the worker started it, ms on CLOCK_MONOTONIC, the clock the TypeScript roles read with
process.hrtime), {"i", "mark": true} or {"i", "first"}. A payload with "fail": true raises, as
failEvery asks. JOBPIPE_ECHO_SLOWDOWN multiplies workMs in this process.

    python3 -m jobpipe_worker jobpipe_worker.examples.echo
"""
import os
import time

from jobpipe_worker import pipeline


def _slowdown():
    try:
        return float(os.environ.get("JOBPIPE_ECHO_SLOWDOWN", "1")) or 1.0
    except ValueError:
        return 1.0


SLOWDOWN = _slowdown()


def clock_ms():
    """Milliseconds on CLOCK_MONOTONIC, shared by every process of a Linux host."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) / 1e6


class Error(Exception):
    """Named like the JavaScript Error the TypeScript handler throws, so failures read alike."""


@pipeline("echo")
def echo(payload, ctx):
    i = payload["i"]
    if payload.get("fail"):
        raise Error(f"job {i} fails on purpose (failEvery)")
    if payload.get("t") is not None:
        result = {"i": i, "t": payload["t"], "w": clock_ms()}
    elif payload.get("mark"):
        result = {"i": i, "mark": True}
    elif payload.get("first") is not None:
        result = {"i": i, "first": payload["first"]}
    else:
        result = i
    ms = (payload.get("workMs") or 0) * SLOWDOWN
    if ms <= 0:
        return result
    if payload.get("spin"):
        until = time.perf_counter() + ms / 1000
        while time.perf_counter() < until:
            pass
        return result
    # Waits on ctx.cancelled rather than sleeping, so that a cancelled or timed-out job stops early.
    ctx.cancelled.wait(ms / 1000)
    return result


if __name__ == "__main__":
    from jobpipe_worker import run

    run()
