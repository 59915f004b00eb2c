"""JSON lines on stdout, shaped like the TypeScript roles' pino lines: level, time, role, pid,
worker, msg, and whatever fields the call adds (batch, job, err, ...)."""
import json
import os
import sys
import threading
from datetime import datetime, timezone

LEVELS = {"trace": 10, "debug": 20, "info": 30, "warn": 40, "error": 50, "fatal": 60, "silent": 100}
_lock = threading.Lock()


class Logger:
    def __init__(self, level="info", bindings=None, stream=None):
        self.threshold = LEVELS[level]
        self.bindings = dict(bindings or {})
        self.stream = stream

    def child(self, **bindings):
        logger = Logger.__new__(Logger)
        logger.threshold = self.threshold
        logger.bindings = {**self.bindings, **bindings}
        logger.stream = self.stream
        return logger

    def log(self, level, msg, **fields):
        if LEVELS[level] < self.threshold:
            return
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = {"level": level, "time": now, **self.bindings, **fields, "msg": msg}
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)
        stream = self.stream or sys.stdout
        with _lock:
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must not stop the worker

    def debug(self, msg, **fields):
        self.log("debug", msg, **fields)

    def info(self, msg, **fields):
        self.log("info", msg, **fields)

    def warn(self, msg, **fields):
        self.log("warn", msg, **fields)

    def error(self, msg, **fields):
        self.log("error", msg, **fields)

    # The logging module's spelling, for handlers used to it.
    warning = warn


def worker_logger(level, worker_id):
    return Logger(level, {"role": "worker", "pid": os.getpid(), "worker": worker_id})
