"""run(): settings from the environment, logger, metrics server, worker, signals, exit code."""
import sys

from .api import registered
from .config import ConfigError, load_settings
from .log import worker_logger
from .metrics import Metrics, start_http_server
from .worker import Worker, install_signal_handlers


def fail_config(message):
    """A bad setting: one clear line on stderr, exit code 2."""
    print(f"jobpipe-worker: {message}", file=sys.stderr)
    sys.exit(2)


def run(pipelines=None, env=None):
    """Runs a worker for the registered pipelines (or `pipelines`, a dict name -> PipelineSpec)
    until it has drained after SIGTERM or SIGINT, then exits the process with its code."""
    try:
        settings = load_settings(env)
    except ConfigError as error:
        fail_config(str(error))
    specs = registered() if pipelines is None else pipelines
    if not specs:
        fail_config("no pipeline registered: decorate a handler with @pipeline(name) in the module you run")
    logger = worker_logger(settings.log_level, settings.worker_id)
    metrics = Metrics(settings.worker_id)
    worker = Worker(settings, specs, logger, metrics)
    try:
        server = start_http_server(metrics, settings.metrics_port, lambda: worker.ready)
    except OSError as error:
        fail_config(f"JOBPIPE_METRICS_PORT {settings.metrics_port}: cannot listen: {error.strerror}")
    logger.info("metrics server listening", port=server.server_address[1])
    install_signal_handlers(worker)
    try:
        code = worker.run()
    except ConfigError as error:  # an endpoint ZeroMQ refuses
        server.shutdown()
        fail_config(str(error))
    server.shutdown()
    logger.info("worker exits", code=code)
    sys.exit(code)
