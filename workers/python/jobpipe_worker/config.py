"""Settings from JOBPIPE_* environment variables. A bad value raises ConfigError, whose message
is the one line `run()` prints before it exits with code 2."""
import os
import socket
import string
from dataclasses import dataclass
from typing import Optional

from .schema import utf16_length

MIB = 1024 * 1024
LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "silent")
Z85_ALPHABET = set(string.digits + string.ascii_lowercase + string.ascii_uppercase + ".-:+=^!/*?&<>()[]{}@%$#")


class ConfigError(Exception):
    pass


@dataclass
class Settings:
    jobs_connect: str
    results_connect: str
    worker_id: str
    heartbeat_ms: int
    max_message_bytes: int
    credit_bytes: int
    prefetch_ms: int
    prefetch: Optional[int]  # a fixed prefetch (JOBPIPE_PREFETCH), or None: measured (prefetch_ms)
    concurrency: int
    drain_timeout_ms: int
    job_timeout_ms: int
    metrics_port: int
    log_level: str
    curve_server_key: Optional[str] = None
    curve_secret: Optional[str] = None


def default_worker_id(host=None, pid=None):
    """The host name, followed by -<pid> unless the process is PID 1 (PROTOCOL.md 3.2): stable
    for a container's life, distinct for several workers on one host."""
    host = host if host is not None else socket.gethostname()
    pid = pid if pid is not None else os.getpid()
    return host if pid == 1 else f"{host}-{pid}"


def _integer(env, name, default, low, high):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {value}")
    return value


def _endpoint(env, name, default):
    value = env.get(name, "").strip() or default
    if "://" not in value:
        raise ConfigError(f"{name} must be a ZeroMQ endpoint such as tcp://host:port, got {value!r}")
    return value


def _curve_key(env, name):
    """A Z85 key given as NAME or as NAME_FILE (the path of a file holding it)."""
    value, path = env.get(name), env.get(f"{name}_FILE")
    if value and path:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            with open(path.strip(), encoding="utf-8") as file:
                value = file.read()
        except OSError as error:
            raise ConfigError(f"{name}_FILE: cannot read {path.strip()}: {error.strerror}") from None
    if not value:
        return None
    value = value.strip()
    # The message never repeats the value: it may be a secret.
    if len(value) != 40 or not set(value) <= Z85_ALPHABET:
        raise ConfigError(f"{name} is not a CURVE key (40 Z85 characters), got {len(value)} characters")
    return value


def load_settings(env=None):
    env = os.environ if env is None else env
    max_bytes = _integer(env, "JOBPIPE_MAX_MESSAGE_BYTES", 4 * MIB, 1024, 1024 * MIB)
    credit_bytes = _integer(env, "JOBPIPE_CREDIT_BYTES", max(32 * MIB, max_bytes), 1024, 2**53 - 1)
    if credit_bytes < max_bytes:
        # A worker holding nothing must always be able to take the largest Jobs message (4a).
        raise ConfigError(f"JOBPIPE_CREDIT_BYTES ({credit_bytes}) must be at least JOBPIPE_MAX_MESSAGE_BYTES ({max_bytes})")
    worker_id = env.get("JOBPIPE_WORKER_ID", "").strip() or default_worker_id()
    if utf16_length(worker_id) > 200:
        raise ConfigError(f"JOBPIPE_WORKER_ID must be 1 to 200 characters, got {utf16_length(worker_id)}")
    # It starts the socket's routing id, which ZeroMQ bounds at 255 bytes.
    if len(worker_id.encode("utf-8")) > 200:
        raise ConfigError(f"JOBPIPE_WORKER_ID must be at most 200 bytes in UTF-8, got {len(worker_id.encode('utf-8'))}")
    log_level = env.get("JOBPIPE_LOG_LEVEL", "").strip().lower() or "info"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"JOBPIPE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    server_key = _curve_key(env, "JOBPIPE_CURVE_SERVER_KEY")
    secret = _curve_key(env, "JOBPIPE_CURVE_SECRET")
    if (server_key is None) != (secret is None):
        raise ConfigError("CURVE needs both JOBPIPE_CURVE_SERVER_KEY and JOBPIPE_CURVE_SECRET (or their _FILE forms)")
    heartbeat_ms = _integer(env, "JOBPIPE_HEARTBEAT_MS", 1000, 10, 3_600_000)
    return Settings(
        jobs_connect=_endpoint(env, "JOBPIPE_JOBS_CONNECT", "tcp://127.0.0.1:5557"),
        results_connect=_endpoint(env, "JOBPIPE_RESULTS_CONNECT", "tcp://127.0.0.1:5558"),
        worker_id=worker_id,
        heartbeat_ms=heartbeat_ms,
        max_message_bytes=max_bytes,
        credit_bytes=credit_bytes,
        prefetch_ms=_integer(env, "JOBPIPE_PREFETCH_MS", 50, 0, 60_000),
        prefetch=_integer(env, "JOBPIPE_PREFETCH", None, 1, 100_000),
        concurrency=_integer(env, "JOBPIPE_CONCURRENCY", 1, 1, 10_000),
        drain_timeout_ms=_integer(env, "JOBPIPE_DRAIN_TIMEOUT_MS", 25_000, 0, 86_400_000),
        job_timeout_ms=_integer(env, "JOBPIPE_JOB_TIMEOUT_MS", 0, 0, 86_400_000),
        metrics_port=_integer(env, "JOBPIPE_METRICS_PORT", 9102, 0, 65535),
        log_level=log_level,
        curve_server_key=server_key,
        curve_secret=secret,
    )
