"""Pipelines the end-to-end tests run in a worker subprocess."""
import time

from jobpipe_worker import NonRetryableError, pipeline


@pipeline("square", slots=2)
def square(payload, ctx):
    return {"n": payload["n"], "square": payload["n"] ** 2, "job": ctx.job_id, "worker": ctx.worker_id}


@pipeline("boom")
def boom(payload):
    if payload == "not-found":
        raise NonRetryableError("GET /items/6: 404 Not Found", name="NotFound")
    raise ValueError("x" * 20_000)


@pipeline("slow", slots=1)
def slow(payload, ctx):
    """Waits payload["ms"], or until cancelled; with "stubborn" it ignores cancellation."""
    if payload.get("stubborn"):
        time.sleep(payload["ms"] / 1000)
    else:
        ctx.cancelled.wait(payload["ms"] / 1000)
    return payload.get("i")


@pipeline("big")
def big(payload):
    return "y" * payload["bytes"]
