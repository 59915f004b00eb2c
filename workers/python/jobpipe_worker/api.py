"""What handler code sees: the @pipeline decorator, NonRetryableError and the job context."""
import inspect
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .schema import utf16_length

MAX_PIPELINES = 64  # entries in a version 2 Credit


class NonRetryableError(Exception):
    """Raise it (or a subclass) when retrying cannot help: the failure goes to the sink with
    "retryable": false and the job becomes a dead letter at once (PROTOCOL.md 3.2). Any exception
    with an attribute `retryable` set to False is taken the same way. The error name on the wire
    is the exception's class name, or `name` when given."""

    retryable = False

    def __init__(self, message="", name=None):
        super().__init__(message)
        if name is not None:
            self.name = name


@dataclass
class PipelineSpec:
    name: str
    handler: Callable[..., Any]
    slots: Optional[int]  # None: JOBPIPE_CONCURRENCY
    takes_context: bool = True


@dataclass
class JobContext:
    """Passed to a handler with the payload."""

    pipeline: str
    batch: str
    seq: int
    attempt: int
    dispatched_at: float
    worker_id: str
    logger: Any
    # Set when the job is cancelled (Cancel message) or its timeout has passed: a long handler
    # should check it now and then and stop (a Python thread cannot be stopped from outside).
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def job_id(self):
        return f"{self.batch}:{self.seq}"


_registry = {}


def _takes_context(handler):
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def pipeline(name, slots=None):
    """Registers the decorated function as the handler of pipeline `name`.

    `slots`: how many of this pipeline's jobs run at once (default JOBPIPE_CONCURRENCY, else 1).
    The handler is called as handler(payload, ctx), or handler(payload) if it takes one argument,
    on a thread of the pipeline's pool; it returns a JSON-serialisable value or raises."""
    if not isinstance(name, str) or not 1 <= utf16_length(name) <= 200:
        raise ValueError(f"a pipeline name is 1 to 200 characters, got {name!r}")
    if slots is not None and (not isinstance(slots, int) or isinstance(slots, bool) or slots < 1):
        raise ValueError(f"slots must be a positive integer, got {slots!r}")

    def register(handler):
        if name in _registry:
            raise ValueError(f"pipeline {name!r} is registered twice")
        if len(_registry) >= MAX_PIPELINES:
            raise ValueError(f"a worker serves at most {MAX_PIPELINES} pipelines")
        _registry[name] = PipelineSpec(name, handler, slots, _takes_context(handler))
        return handler

    return register


def registered():
    """The pipelines registered so far, by name."""
    return dict(_registry)


def clear_registry():
    """Forgets every registered pipeline (tests)."""
    _registry.clear()
