"""Prometheus metrics in text format and a /metrics /healthz /readyz server, standard library only."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters and gauges keyed by label values; every series also carries worker=<id>."""

    FAMILIES = (
        ("jobpipe_malformed_messages_total", "counter", "Messages dropped because they could not be decoded", ("role", "reason")),
        ("jobpipe_worker_slots", "gauge", "Jobs a worker can run at once (its concurrency)", ("pipeline",)),
        ("jobpipe_worker_jobs_active", "gauge", "Jobs a worker is running now (busy slots)", ("pipeline",)),
        ("jobpipe_worker_jobs_held", "gauge", "Jobs a worker holds: waiting or running, result not yet sent", ("pipeline",)),
        ("jobpipe_worker_jobs_run_total", "counter", "Jobs a worker has finished, by outcome (ok, failed)", ("pipeline", "outcome")),
        ("jobpipe_worker_job_seconds_total", "counter", "Seconds handlers ran", ("pipeline",)),
    )

    def __init__(self, worker_id):
        self.worker_id = worker_id
        self._lock = threading.Lock()
        self._values = {name: {} for name, _, _, _ in self.FAMILIES}
        self._labels = {name: labels for name, _, _, labels in self.FAMILIES}

    def _key(self, name, labels):
        return tuple(labels[label] for label in self._labels[name])

    def inc(self, name, amount=1, **labels):
        key = self._key(name, labels)
        with self._lock:
            self._values[name][key] = self._values[name].get(key, 0) + amount

    def set(self, name, value, **labels):
        with self._lock:
            self._values[name][self._key(name, labels)] = value

    def get(self, name, **labels):
        with self._lock:
            return self._values[name].get(self._key(name, labels), 0)

    def render(self):
        lines = []
        with self._lock:
            for name, kind, help_text, label_names in self.FAMILIES:
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for key, value in sorted(self._values[name].items()):
                    pairs = list(zip(label_names, key)) + [("worker", self.worker_id)]
                    labels = ",".join(f'{label}="{_escape(text)}"' for label, text in pairs)
                    number = repr(float(value)) if isinstance(value, float) else str(value)
                    lines.append(f"{name}{{{labels}}} {number}")
        return "\n".join(lines) + "\n"


def start_http_server(metrics, port, ready, host="0.0.0.0"):
    """Serves /metrics, /healthz and /readyz (200 while `ready()` is true, else 503) on a daemon
    thread. Port 0 picks a free port; returns the server, whose server_address holds the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE)
            elif path == "/healthz":
                self._reply(200, "ok\n")
            elif path == "/readyz":
                ok = bool(ready())
                self._reply(200 if ok else 503, "ready\n" if ok else "not ready\n")
            else:
                self._reply(404, "not found: try /metrics, /healthz or /readyz\n")

        def _reply(self, status, body, content_type="text/plain; charset=utf-8"):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # scrapes are not worth a log line each

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits for the serving loop to notice.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="jobpipe-metrics", daemon=True).start()
    return server
