"""End to end: the worker in a subprocess against a fake ventilator (ROUTER) and a fake sink
(PULL) made of real pyzmq sockets in the test."""
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import zmq

from helpers import PACKAGE_ROOT

from jobpipe_worker.codec import DecodeError, decode, encode

HERE = os.path.dirname(os.path.abspath(__file__))
HEARTBEAT_MS = 200
WINDOW_SLOTS = {"square": 2, "boom": 1, "slow": 1, "big": 1}
PREFETCH = 2


class Deployment:
    """A fake ventilator and sink, and a worker process connected to them."""

    def __init__(self, curve_secret=None, context=None, **env):
        # A context of the test's own when a ZAP handler must be bound in it before the servers.
        self.context = context or zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.pull = self.context.socket(zmq.PULL)
        for sock, domain in ((self.router, b"jobpipe-jobs"), (self.pull, b"jobpipe-results")):
            sock.setsockopt(zmq.LINGER, 0)
            if curve_secret is not None:
                sock.setsockopt(zmq.CURVE_SERVER, 1)
                sock.setsockopt(zmq.CURVE_SECRETKEY, curve_secret)
                sock.setsockopt(zmq.ZAP_DOMAIN, domain)  # tells a ZAP handler which socket asks
        jobs_port = self.router.bind_to_random_port("tcp://127.0.0.1")
        results_port = self.pull.bind_to_random_port("tcp://127.0.0.1")
        full_env = dict(os.environ)
        full_env.update(
            PYTHONPATH=os.pathsep.join([PACKAGE_ROOT, HERE]),
            JOBPIPE_JOBS_CONNECT=f"tcp://127.0.0.1:{jobs_port}",
            JOBPIPE_RESULTS_CONNECT=f"tcp://127.0.0.1:{results_port}",
            JOBPIPE_WORKER_ID="py-test",
            JOBPIPE_HEARTBEAT_MS=str(HEARTBEAT_MS),
            JOBPIPE_PREFETCH=str(PREFETCH),
            JOBPIPE_METRICS_PORT="0",
            JOBPIPE_LOG_LEVEL="debug",
        )
        full_env.update(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobpipe_worker", "fixture_pipelines"],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.peer = None
        self.credits = []  # every Credit received, in order
        self.drains = []
        self.results = []  # every result received, with its pipeline and worker
        self.sent = 0
        self.metrics_port = None

    def _read_stdout(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def logs(self):
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.log
            try:
                self.log.append(json.loads(line))
            except ValueError:
                self.log.append({"msg": line.rstrip()})

    def pump(self, seconds=0.05):
        """Reads what has arrived on both sockets for about `seconds`."""
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.pull, zmq.POLLIN)
        until = time.monotonic() + seconds
        while True:
            events = dict(poller.poll(max(0, int((until - time.monotonic()) * 1000))))
            if self.router in events:
                peer, frame = self.router.recv_multipart()
                self.peer = peer
                message = decode(frame, accept=("Credit", "Drain"))
                (self.credits if message["type"] == "Credit" else self.drains).append(message)
            if self.pull in events:
                message = decode(self.pull.recv(), accept=("Results",))
                for result in message["results"]:
                    self.results.append({**result, "pipeline": message["pipeline"], "worker": message["worker"]})
            if not events and time.monotonic() >= until:
                return

    def wait(self, what, check, timeout=10):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            value = check()
            if value:
                return value
            self.pump()
        self.logs()
        raise AssertionError(f"timed out waiting for {what}; log tail: {self.log[-8:]}; exit {self.process.poll()}")

    def send(self, message):
        frame = encode(message) if isinstance(message, dict) else message
        self.router.send_multipart([self.peer, frame])
        if isinstance(message, dict) and message["type"] == "Jobs":
            self.sent += len(message["jobs"])
        return frame

    def jobs(self, pipeline, payloads, batch="b1", first_seq=0, traceparent=None):
        jobs = [{"batch": batch, "seq": first_seq + i, "attempt": 1, "dispatchedAt": 1767225600000, "payload": p} for i, p in enumerate(payloads)]
        if traceparent is not None:
            for job in jobs:
                job["traceparent"] = traceparent
        return self.send({"type": "Jobs", "pipeline": pipeline, "jobs": jobs})

    def results_of(self, pipeline):
        return [r for r in self.results if r["pipeline"] == pipeline]

    def get(self, path):
        """(status, body) of a GET on the worker's metrics port."""
        if self.metrics_port is None:
            line = self.wait("the metrics port", lambda: next((l for l in self.logs() if l.get("msg") == "metrics server listening"), None))
            self.metrics_port = line["port"]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metrics(self):
        return self.get("/metrics")[1]

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.router.close()
        self.pull.close()
        self.context.term()


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


class WorkerEndToEnd(unittest.TestCase):
    def setUp(self):
        self.d = Deployment()
        self.addCleanup(self.d.close)
        self.d.wait("the first Credit", lambda: self.d.credits)

    def lane(self, credit, name):
        return credit["pipelines"][name]

    def test_credit_v2_declares_every_lane_and_grants_each_window(self):
        first = self.d.credits[0]
        self.assertEqual(first["version"], 2)
        self.assertEqual(first["worker"], "py-test")
        self.assertEqual(set(first["pipelines"]), set(WINDOW_SLOTS))
        for name, slots in WINDOW_SLOTS.items():
            lane = first["pipelines"][name]
            self.assertEqual((lane["granted"], lane["received"]), (slots + PREFETCH, 0))
            self.assertEqual((lane["grantedBytes"], lane["receivedBytes"]), (32 * 1024 * 1024, 0))
        # The routing id is <workerId>-<pid>-<random>.
        self.assertRegex(self.d.peer.decode(), rf"^py-test-{self.d.process.pid}-[0-9a-f]{{8}}$")
        # Heartbeat: Credits keep coming with nothing to do.
        count = len(self.d.credits)
        self.d.pump(5 * HEARTBEAT_MS / 1000)
        self.assertGreaterEqual(len(self.d.credits) - count, 2)

    def test_jobs_run_results_come_and_credit_follows(self):
        window = WINDOW_SLOTS["square"] + PREFETCH
        frame = self.d.jobs("square", [{"n": n} for n in range(window)])
        self.d.wait("4 results", lambda: len(self.d.results_of("square")) == window)
        self.assertEqual(sorted(r["value"]["square"] for r in self.d.results), [n * n for n in range(window)])
        for r in self.d.results:
            self.assertTrue(r["ok"])
            self.assertEqual(r["worker"], "py-test")
            self.assertEqual(r["value"]["job"], f"b1:{r['seq']}")
        # Once the results are out the lane grants the window again, bytes counted per frame.
        last = self.d.wait("credit for more", lambda: [c for c in self.d.credits if self.lane(c, "square")["granted"] == 2 * window])
        lane = self.lane(last[-1], "square")
        self.assertEqual(lane["received"], window)
        self.assertEqual(lane["receivedBytes"], len(frame))
        self.assertEqual(lane["grantedBytes"], len(frame) + 32 * 1024 * 1024)
        # Other lanes untouched; the invariant seen from outside: granted - received <= window.
        for credit in self.d.credits:
            self.assertEqual(self.lane(credit, "boom")["received"], 0)
            for name, slots in WINDOW_SLOTS.items():
                lane = self.lane(credit, name)
                self.assertLessEqual(lane["granted"] - lane["received"], slots + PREFETCH)
        granted = [self.lane(c, "square")["granted"] for c in self.d.credits]
        self.assertEqual(granted, sorted(granted))
        text = self.d.metrics()
        self.assertEqual(metric(text, "jobpipe_worker_jobs_run_total", pipeline="square", outcome="ok", worker="py-test"), window)
        self.assertEqual(metric(text, "jobpipe_worker_slots", pipeline="square", worker="py-test"), 2)
        self.assertEqual(metric(text, "jobpipe_worker_jobs_active", pipeline="square", worker="py-test"), 0)

    def test_failures_truncated_and_non_retryable(self):
        self.d.jobs("boom", ["not-found", "other"])
        results = self.d.wait("2 failures", lambda: len(self.d.results) == 2 and self.d.results)
        by_seq = {r["seq"]: r for r in results}
        self.assertEqual(by_seq[0]["error"], {"name": "NotFound", "message": "GET /items/6: 404 Not Found", "retryable": False})
        self.assertEqual(by_seq[1]["error"]["name"], "ValueError")
        self.assertEqual(len(by_seq[1]["error"]["message"]), 10_000)
        self.assertNotIn("retryable", by_seq[1]["error"])

    def test_result_too_large_and_wrong_pipeline(self):
        self.d.jobs("big", [{"bytes": 10}, {"bytes": 5 * 1024 * 1024}])
        self.d.jobs("nope", [1, 2, 3], batch="b2")
        self.d.wait("5 results", lambda: len(self.d.results) == 5)
        big = {r["seq"]: r for r in self.d.results_of("big")}
        self.assertEqual(big[0]["value"], "y" * 10)
        self.assertEqual(big[1]["error"]["name"], "ResultTooLarge")
        wrong = self.d.results_of("nope")
        self.assertEqual([r["error"]["name"] for r in wrong], ["WrongPipeline"] * 3)
        self.assertEqual(sorted(r["seq"] for r in wrong), [0, 1, 2])
        # WrongPipeline jobs count in the total (Drain), in no lane.
        self.d.process.send_signal(signal.SIGTERM)
        drain = self.d.wait("a Drain", lambda: self.d.drains)[0]
        self.assertEqual(drain, {"type": "Drain", "worker": "py-test", "received": 5})
        self.d.send({"type": "Drained", "sent": 5})
        self.assertEqual(self.d.process.wait(timeout=10), 0)

    def test_malformed_frames_are_counted_and_dropped(self):
        for frame in (b"\x01", b"\x07\x01{}", b"\x01\x01not json", b'\x01\x01{"pipeline":"square","jobs":[]}', b'\x01\x03{"worker":"w","granted":1,"received":0}', b"\x01\x01" + b"{" * 3000):
            self.d.send(frame)
        self.d.jobs("square", [{"n": 3}])
        self.d.wait("the result after the garbage", lambda: self.d.results)
        text = self.d.metrics()
        for reason in ("too_short", "unknown_version", "bad_json", "bad_fields", "unexpected_type"):
            self.assertGreaterEqual(metric(text, "jobpipe_malformed_messages_total", role="worker", reason=reason, worker="py-test"), 1, reason)
        self.assertEqual(metric(text, "jobpipe_malformed_messages_total", role="worker", reason="bad_json"), 2)
        self.assertTrue(any(line.get("msg") == "dropped a malformed message" for line in self.d.logs()))
        # Dropped Jobs are not counted as received: the next heartbeat says 1, the one that ran.
        count = len(self.d.credits)
        self.d.wait("a heartbeat", lambda: len(self.d.credits) > count + 1)
        self.assertEqual(self.lane(self.d.credits[-1], "square")["received"], 1)

    def test_sigterm_drains_finishes_held_jobs_and_exits_0(self):
        self.assertEqual(self.d.get("/readyz")[0], 200)
        self.assertEqual(self.d.get("/healthz"), (200, "ok\n"))
        self.d.jobs("slow", [{"ms": 400, "i": i} for i in range(3)])
        self.d.pump(0.1)
        self.d.process.send_signal(signal.SIGTERM)
        self.d.wait("a Drain", lambda: self.d.drains)
        self.assertEqual(self.d.get("/readyz")[0], 503, "not ready once draining")
        self.assertEqual(self.d.drains[0]["received"], 3)
        credits = len(self.d.credits)
        # One more job was already on its way when the Drain came.
        self.d.jobs("slow", [{"ms": 10, "i": 3}], first_seq=3)
        self.d.send({"type": "Drained", "sent": 4})
        self.d.wait("a repeated Drain (the heartbeat)", lambda: len(self.d.drains) >= 3)
        self.assertEqual(self.d.drains[-1]["received"], 4)
        code = self.d.wait("the exit", lambda: self.d.process.poll() is not None and [self.d.process.returncode])[0]
        self.d.pump(0.3)
        self.assertEqual(code, 0)
        self.assertEqual(sorted(r["value"] for r in self.d.results), [0, 1, 2, 3])
        self.assertEqual(len(self.d.credits), credits, "no Credit after the Drain")
        self.assertTrue(any(line.get("msg") == "worker drained" for line in self.d.logs()))

    def test_cancel_fails_waiting_jobs_at_once_and_running_ones_when_they_stop(self):
        self.d.jobs("slow", [{"ms": 5000, "i": i} for i in range(3)], batch="c")
        self.d.pump(0.2)
        self.d.send({"type": "Cancel", "pipeline": "slow", "batch": "c"})
        self.d.wait("3 results", lambda: len(self.d.results) == 3)
        for r in self.d.results:
            self.assertEqual(r["error"]["name"], "Cancelled")
            self.assertIs(r["error"]["retryable"], False)


class WorkerMeasuredPrefetch(unittest.TestCase):
    def test_a_fast_lane_opens_its_window_and_a_lane_with_nothing_to_do_keeps_one(self):
        """Without JOBPIPE_PREFETCH the prefetch is measured: slots + 1 at first, then about
        JOBPIPE_PREFETCH_MS (50) worth of the lane's jobs/s once it runs jobs."""
        d = Deployment(JOBPIPE_PREFETCH="")
        self.addCleanup(d.close)
        first = d.wait("the first Credit", lambda: d.credits)[0]
        for name, slots in WINDOW_SLOTS.items():
            self.assertEqual(first["pipelines"][name]["granted"], slots + 1)
        # A ventilator with jobs to spare: send whatever the credit allows, as it comes.
        total, seq = 3000, 0
        until = time.monotonic() + 20
        while len(d.results_of("square")) < total and time.monotonic() < until:
            lane = d.credits[-1]["pipelines"]["square"]
            room = min(lane["granted"] - seq, total - seq)
            if room > 0:
                d.jobs("square", [{"n": n} for n in range(seq, seq + room)], first_seq=seq)
                seq += room
            d.pump(0.005)
        self.assertEqual(len(d.results_of("square")), total)
        owed = [c["pipelines"]["square"]["granted"] - c["pipelines"]["square"]["received"] for c in d.credits]
        self.assertGreater(max(owed), WINDOW_SLOTS["square"] + 1)  # the window grew
        self.assertLessEqual(max(owed), WINDOW_SLOTS["square"] + 2000)
        granted = [c["pipelines"]["square"]["granted"] for c in d.credits]
        self.assertEqual(granted, sorted(granted))
        # Lanes that ran nothing still ask for slots + 1.
        self.assertEqual(d.credits[-1]["pipelines"]["boom"]["granted"], WINDOW_SLOTS["boom"] + 1)


class WorkerDrainTimeout(unittest.TestCase):
    def test_without_drained_it_waits_3_heartbeats_and_gives_up_on_jobs_at_the_drain_timeout(self):
        d = Deployment(JOBPIPE_DRAIN_TIMEOUT_MS="1000")
        self.addCleanup(d.close)
        d.wait("the first Credit", lambda: d.credits)
        d.jobs("slow", [{"ms": 5000, "i": 0, "stubborn": True}])
        d.pump(0.1)
        started = time.monotonic()
        d.process.send_signal(signal.SIGTERM)
        # No Drained is ever sent: the worker stops waiting after 3 heartbeats, then the job's
        # drain timeout ends it (the job comes back through its lease).
        code = d.wait("the exit", lambda: d.process.poll() is not None and [d.process.returncode])[0]
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - started, 6)
        messages = [line.get("msg") for line in d.logs()]
        self.assertIn("drain: stopped waiting for jobs on their way", messages)
        self.assertIn("drain timed out; unfinished jobs come back through their leases", messages)
        self.assertEqual(d.results, [])


class CommandLine(unittest.TestCase):
    def run_cli(self, *args, **env):
        full_env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, **env)
        return subprocess.run([sys.executable, "-m", "jobpipe_worker", *args], env=full_env, capture_output=True, text=True, timeout=30)

    def test_a_bad_setting_is_one_line_on_stderr_and_exit_code_2(self):
        # The module is a .py path: imported (it registers its pipelines) before the settings are read.
        run = self.run_cli(os.path.join(HERE, "fixture_pipelines.py"), JOBPIPE_HEARTBEAT_MS="soon")
        self.assertEqual(run.returncode, 2)
        self.assertEqual(run.stderr, "jobpipe-worker: JOBPIPE_HEARTBEAT_MS must be an integer from 10 to 3600000, got 'soon'\n")

    def test_a_module_that_does_not_exist_or_no_module(self):
        self.assertEqual(self.run_cli("no_such_module_here").returncode, 2)
        self.assertEqual(self.run_cli("/nonexistent/pipelines.py").returncode, 2)
        self.assertEqual(self.run_cli().returncode, 2)


class WorkerTimeouts(unittest.TestCase):
    def test_a_job_past_its_timeout_fails_and_its_late_outcome_is_dropped(self):
        d = Deployment(JOBPIPE_JOB_TIMEOUT_MS="200")
        self.addCleanup(d.close)
        d.wait("the first Credit", lambda: d.credits)
        traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        before = time.time() * 1000
        d.jobs("slow", [{"ms": 700, "i": 0, "stubborn": True}, {"ms": 0, "i": 1}], traceparent=traced)
        d.wait("2 results", lambda: len(d.results) == 2)
        by_seq = {r["seq"]: r for r in d.results}
        self.assertEqual(by_seq[0]["error"]["name"], "TimeoutError")
        self.assertEqual(by_seq[0]["error"]["message"], "handler ran longer than 200 ms")
        # Both ran traced: each result names a span of its handler run, the timed-out one too.
        for result in by_seq.values():
            self.assertEqual(result["handlerSpan"]["parentSpanId"], "00f067aa0ba902b7")
            self.assertGreaterEqual(result["handlerSpan"]["startedAt"], before)
            self.assertRegex(result["traceparent"], r"^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$")
        # The next job did not wait for the stuck thread: a new thread took its slot.
        self.assertTrue(by_seq[1]["ok"])
        d.pump(0.8)
        self.assertEqual(len(d.results), 2, "the late outcome was dropped")
        self.assertTrue(any(line.get("msg") == "late outcome of a timed-out job dropped" for line in d.logs()))


class WorkerBytes(unittest.TestCase):
    def test_a_small_byte_window_bounds_what_the_worker_is_granted(self):
        d = Deployment(JOBPIPE_MAX_MESSAGE_BYTES="2048", JOBPIPE_CREDIT_BYTES="4096")
        self.addCleanup(d.close)
        d.wait("the first Credit", lambda: d.credits)
        lane = d.credits[0]["pipelines"]["slow"]
        self.assertEqual((lane["grantedBytes"], lane["receivedBytes"]), (4096, 0))
        frame = d.jobs("slow", [{"ms": 800, "i": 0, "pad": "x" * 1500}])
        held = d.wait("a heartbeat counting the frame", lambda: [c for c in d.credits if c["pipelines"]["slow"]["received"] == 1])[0]["pipelines"]["slow"]
        # While the job is held its bytes are not granted again.
        self.assertEqual(held["receivedBytes"], len(frame))
        self.assertEqual(held["grantedBytes"], 4096)
        d.wait("the result", lambda: d.results)
        after = d.wait("the bytes granted again", lambda: [c for c in d.credits if c["pipelines"]["slow"]["grantedBytes"] > 4096])[-1]
        self.assertEqual(after["pipelines"]["slow"]["grantedBytes"], 4096 + len(frame))
        # A frame between the limit and twice the limit is read and dropped as too_large.
        d.jobs("slow", [{"ms": 0, "i": 1, "pad": "x" * 3000}])
        d.wait("too_large counted", lambda: metric(d.metrics(), "jobpipe_malformed_messages_total", reason="too_large") == 1)

    def test_a_connection_cut_for_a_frame_above_twice_the_limit_is_connected_again(self):
        d = Deployment(JOBPIPE_MAX_MESSAGE_BYTES="2048", JOBPIPE_CREDIT_BYTES="4096")
        self.addCleanup(d.close)
        d.wait("the first Credit", lambda: d.credits)
        # Above 2 x 2048: libzmq in the worker cuts the connection and never connects again itself.
        d.jobs("square", [{"n": 1, "pad": "x" * 5000}])
        cut = d.wait("the reconnection's error line", lambda: [line for line in d.logs() if line.get("msg", "").startswith("the connection was cut")])
        self.assertEqual((cut[0]["level"], cut[0]["socket"]), ("error", "jobs"))
        self.assertIn("JOBPIPE_MAX_MESSAGE_BYTES (2048)", cut[0]["msg"])
        # The same session goes on: Credits come again, and a job sent now runs.
        count = len(d.credits)
        d.wait("Credits after the reconnection", lambda: len(d.credits) > count)
        d.jobs("square", [{"n": 9}])
        self.assertEqual(d.wait("the result", lambda: d.results)[0]["value"]["square"], 81)
        self.assertIsNone(d.process.poll())


class WorkerCurve(unittest.TestCase):
    def test_curve_client_with_keys_from_a_value_and_a_file(self):
        server_public, server_secret = zmq.curve_keypair()
        _, worker_secret = zmq.curve_keypair()
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as file:
            file.write(worker_secret.decode() + "\n")
        self.addCleanup(os.unlink, file.name)
        d = Deployment(curve_secret=server_secret, JOBPIPE_CURVE_SERVER_KEY=server_public.decode(), JOBPIPE_CURVE_SECRET_FILE=file.name)
        self.addCleanup(d.close)
        d.wait("a Credit over CURVE", lambda: d.credits)
        d.jobs("square", [{"n": 5}])
        self.assertEqual(d.wait("a result over CURVE", lambda: d.results)[0]["value"]["square"], 25)
        self.assertTrue(any(line.get("curve") is True for line in d.logs()))


if __name__ == "__main__":
    unittest.main()
