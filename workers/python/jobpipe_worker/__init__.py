"""jobpipe worker for Python: serve jobpipe pipelines with handlers written in Python.

    from jobpipe_worker import pipeline, NonRetryableError, run

    @pipeline("primes", slots=2)
    def count_primes(payload, ctx):
        ...

    if __name__ == "__main__":
        run()
"""
from .api import JobContext, NonRetryableError, pipeline, registered
from .runtime import run

__all__ = ["pipeline", "NonRetryableError", "JobContext", "run", "registered"]
__version__ = "0.1.0"
