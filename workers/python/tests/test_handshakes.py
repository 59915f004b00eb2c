"""Refused handshakes (PROTOCOL.md section 1, "CURVE: keys, refusals and retries"): the backoff
and the log lines of a watch, and a real worker process refused by CURVE servers whose ZAP
handler (in this test) lets its key in later."""
import io
import json
import re
import threading
import unittest

import helpers  # noqa: F401 - puts the package on sys.path

import zmq
import zmq.utils.z85

from jobpipe_worker.handshakes import ABANDONED_AFTER_S, FAILED_MESSAGE, FAILED_MESSAGE_CURVE, REFUSED_MESSAGE, HandshakeWatch
from jobpipe_worker.log import Logger
from test_e2e import Deployment

ADMITTED = re.compile(r"^admitted by the server after (\d+) refused handshakes$")
MISMATCH = zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH


class FakeSocket:
    def __init__(self):
        self.calls = []

    def disconnect(self, endpoint):
        self.calls.append(("disconnect", endpoint))

    def connect(self, endpoint):
        self.calls.append(("connect", endpoint))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class WatchRules(unittest.TestCase):
    def setUp(self):
        self.stream = io.StringIO()
        self.clock = Clock()
        self.sock = FakeSocket()
        self.watch = self.make_watch("PUBLICKEY")

    def make_watch(self, public_key):
        return HandshakeWatch(self.sock, "tcp://sink:5558", "results", public_key, Logger("debug", stream=self.stream), clock=self.clock)

    def lines(self):
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def refuse_and_retry(self, event=zmq.EVENT_HANDSHAKE_FAILED_AUTH, value=400):
        """One refusal, then time passes to its retry: returns the delay it waited."""
        self.watch.on_event(event, value)
        delay = self.watch.retry_in(self.clock.now)
        self.watch.retry_if_due(self.clock.now + delay - 0.001)  # not yet
        self.clock.now += delay
        self.watch.retry_if_due(self.clock.now)
        return delay

    def test_backoff_doubles_to_30_s_and_each_retry_disconnects_and_connects(self):
        delays = [self.refuse_and_retry() for _ in range(8)]
        self.assertEqual(delays, [1, 2, 4, 8, 16, 30, 30, 30])
        self.assertEqual(self.sock.calls, [("disconnect", "tcp://sink:5558"), ("connect", "tcp://sink:5558")] * 8)
        self.assertTrue(self.watch.refused)

    def test_one_line_a_minute_while_refusals_go_on_then_the_admission(self):
        for _ in range(8):  # 1+2+4+8+16+30+30 s: the 7th refusal comes 61 s after the first
            self.refuse_and_retry()
        refused = [line for line in self.lines() if line["msg"] == REFUSED_MESSAGE]
        self.assertEqual(len(refused), 2)
        first = refused[0]
        self.assertEqual(first["level"], "error")
        self.assertEqual((first["endpoint"], first["publicKey"], first["reason"], first["delayMs"], first["socket"]), ("tcp://sink:5558", "PUBLICKEY", "unknown_key", 1000, "results"))
        self.assertEqual(refused[1]["delayMs"], 30_000)
        self.watch.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
        admitted = self.lines()[-1]
        self.assertEqual((admitted["level"], admitted["msg"], admitted["endpoint"]), ("info", "admitted by the server after 8 refused handshakes", "tcp://sink:5558"))
        self.assertFalse(self.watch.refused)
        self.assertIsNone(self.watch.retry_in(self.clock.now))
        # The backoff starts again from 1 s, and the next refusal is logged at once.
        self.assertEqual(self.refuse_and_retry(), 1)
        self.assertEqual(self.lines()[-1]["msg"], REFUSED_MESSAGE)

    def test_a_mechanism_mismatch_is_a_refusal_other_failures_are_left_to_libzmq(self):
        self.watch.on_event(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, MISMATCH)
        self.assertEqual(self.lines()[-1]["reason"], "wrong_mechanism")
        self.assertTrue(self.watch.refused)
        other = HandshakeWatch(FakeSocket(), "tcp://v:5557", "jobs", "PUBLICKEY", Logger("debug", stream=self.stream), clock=self.clock)
        for _ in range(3):
            other.on_event(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 32)  # EPIPE: a wrong server key
        other.on_event(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        warned = [line for line in self.lines() if line["level"] == "warn"]
        self.assertEqual(len(warned), 1, "once a minute")
        self.assertEqual((warned[0]["msg"], warned[0]["endpoint"], warned[0]["error"]), (FAILED_MESSAGE_CURVE, "tcp://v:5557", "EPIPE"))
        self.assertFalse(other.refused)
        self.assertIsNone(other.retry_in(self.clock.now))
        self.clock.now += 60
        other.on_event(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        self.assertEqual(self.lines()[-1]["error"], "ZMTP_CRYPTOGRAPHIC")

    def test_without_keys_the_key_is_none_and_a_failure_names_no_setting(self):
        plain = self.make_watch(None)
        plain.on_event(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, MISMATCH)
        self.assertEqual(self.lines()[-1]["publicKey"], "(none)")
        plain.on_event(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 104)
        self.assertEqual((self.lines()[-1]["msg"], self.lines()[-1]["error"]), (FAILED_MESSAGE, "ECONNRESET"))
        self.assertNotIn("publicKey", self.lines()[-1])

    def test_an_admission_without_refusals_says_nothing(self):
        self.watch.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
        self.assertEqual(self.lines(), [])


class AbandonedConnections(unittest.TestCase):
    """A connection the socket cut itself after its handshake, which libzmq never connects again."""

    def setUp(self):
        self.stream = io.StringIO()
        self.clock = Clock()
        self.sock = FakeSocket()
        self.watch = HandshakeWatch(self.sock, "tcp://v:5557", "jobs", None, Logger("debug", stream=self.stream), clock=self.clock, abandoned_cause="too big?")

    def lines(self):
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def cut_and_wait(self, seconds):
        self.watch.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
        self.watch.on_event(zmq.EVENT_DISCONNECTED, 0)
        self.clock.now += seconds
        self.watch.retry_if_due(self.clock.now)

    def test_a_cut_with_no_attempt_of_libzmqs_is_connected_again_after_3_s(self):
        self.cut_and_wait(ABANDONED_AFTER_S - 0.01)
        self.assertEqual(self.sock.calls, [])
        self.assertAlmostEqual(self.watch.retry_in(self.clock.now), 0.01)
        self.clock.now += 0.01
        self.watch.retry_if_due(self.clock.now)
        self.assertEqual(self.sock.calls, [("disconnect", "tcp://v:5557"), ("connect", "tcp://v:5557")])
        line = self.lines()[-1]
        self.assertEqual((line["level"], line["socket"], line["endpoint"]), ("error", "jobs", "tcp://v:5557"))
        self.assertIn("(too big?)", line["msg"])
        self.assertIsNone(self.watch.retry_in(self.clock.now), "once")
        # A second cut within the minute reconnects too, without a second line.
        self.cut_and_wait(ABANDONED_AFTER_S)
        self.assertEqual(len(self.sock.calls), 4)
        self.assertEqual(len(self.lines()), 1)

    def test_libzmqs_own_retry_is_left_alone(self):
        for act in (zmq.EVENT_CONNECT_RETRIED, zmq.EVENT_CONNECT_DELAYED, zmq.EVENT_CONNECTED):
            self.watch.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
            self.watch.on_event(zmq.EVENT_DISCONNECTED, 0)
            self.watch.on_event(act, 100)
            self.clock.now += 10
            self.watch.retry_if_due(self.clock.now)
        self.assertEqual(self.sock.calls, [])
        self.assertEqual(self.lines(), [])

    def test_a_disconnect_without_a_handshake_or_without_a_cause_is_left_alone(self):
        self.watch.on_event(zmq.EVENT_DISCONNECTED, 0)  # never admitted: refusals have their own backoff
        self.clock.now += 10
        self.watch.retry_if_due(self.clock.now)
        unwatched = HandshakeWatch(self.sock, "tcp://s:5558", "results", None, Logger("debug", stream=self.stream), clock=self.clock)
        unwatched.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
        unwatched.on_event(zmq.EVENT_DISCONNECTED, 0)
        self.clock.now += 10
        unwatched.retry_if_due(self.clock.now)
        self.assertEqual(self.sock.calls, [])


class ZapHandler:
    """A ZAP handler (RFC 27) in the fake servers' context: admits the CURVE keys in `allowed`."""

    def __init__(self, context):
        self.allowed = set()
        self.requests = []  # (domain, key, status)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(context, ready), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _serve(self, context, ready):
        sock = context.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind("inproc://zeromq.zap.01")
        ready.set()
        try:
            while not self.stopping.is_set():
                if not sock.poll(50):
                    continue
                _version, request_id, domain, _address, _identity, mechanism, *credentials = sock.recv_multipart()
                key = zmq.utils.z85.encode(credentials[0]).decode() if mechanism == b"CURVE" else ""
                with self.lock:
                    status = b"200" if key in self.allowed else b"400"
                    self.requests.append((domain.decode(), key, status.decode()))
                sock.send_multipart([b"1.0", request_id, status, b"OK" if status == b"200" else b"key not allowed", b"", b""])
        finally:
            sock.close()

    def allow(self, key):
        with self.lock:
            self.allowed.add(key)

    def refusals(self, domain):
        with self.lock:
            return sum(1 for d, _, status in self.requests if d == domain and status == "400")

    def stop(self):
        self.stopping.set()
        self.thread.join(5)


class RefusedWorker(unittest.TestCase):
    def test_a_refused_worker_says_so_retries_and_gets_in_once_its_key_is_allowed(self):
        server_public, server_secret = zmq.curve_keypair()
        worker_public, worker_secret = zmq.curve_keypair()
        context = zmq.Context()
        zap = ZapHandler(context)
        d = Deployment(curve_secret=server_secret, context=context, JOBPIPE_CURVE_SERVER_KEY=server_public.decode(), JOBPIPE_CURVE_SECRET=worker_secret.decode())
        self.addCleanup(d.close)
        self.addCleanup(zap.stop)  # before d.close: term() waits for the handler's socket
        jobs, results = d.router.getsockopt(zmq.LAST_ENDPOINT).decode(), d.pull.getsockopt(zmq.LAST_ENDPOINT).decode()

        def refused():
            return [line for line in d.logs() if line.get("msg") == REFUSED_MESSAGE]

        lines = d.wait("a refusal line for each socket", lambda: len(refused()) == 2 and refused())
        self.assertEqual({line["endpoint"] for line in lines}, {jobs, results})
        for line in lines:
            self.assertEqual((line["level"], line["publicKey"], line["reason"], line["delayMs"]), ("error", worker_public.decode(), "unknown_key", 1000))
        # libzmq would stop here; the worker tries again after 1 s, and logs nothing new.
        d.wait("a second refusal on each socket", lambda: zap.refusals("jobpipe-jobs") >= 2 and zap.refusals("jobpipe-results") >= 2)
        d.pump(0.3)
        self.assertEqual(len(refused()), 2, "one line a minute while refusals go on")
        self.assertEqual(d.credits, [])

        zap.allow(worker_public.decode())
        d.wait("a Credit once admitted", lambda: d.credits)
        d.jobs("square", [{"n": 7}])
        self.assertEqual(d.wait("a result once admitted", lambda: d.results)[0]["value"]["square"], 49)
        def admitted_lines():
            return [line for line in d.logs() if ADMITTED.match(line.get("msg", ""))]

        admitted = d.wait("an admission line for each socket", lambda: len(admitted_lines()) == 2 and admitted_lines())
        self.assertEqual({line["endpoint"] for line in admitted}, {jobs, results})
        for line in admitted:
            self.assertEqual(line["level"], "info")
            self.assertGreaterEqual(int(ADMITTED.match(line["msg"]).group(1)), 2)
        self.assertIsNone(d.process.poll(), "the same process, never restarted")
        self.assertEqual([line["msg"] for line in d.logs()].count("worker started"), 1)

    def test_a_worker_without_keys_refused_by_curve_servers_names_no_key(self):
        _, server_secret = zmq.curve_keypair()
        d = Deployment(curve_secret=server_secret)
        self.addCleanup(d.close)
        # libzmq reports the other mechanism as such (a refusal, retried with backoff), or, when
        # the server's close overtakes the worker's reading of the server's greeting (a busy
        # machine), as a failed write (EPIPE), after which it reconnects by itself. Either line
        # must name no key, and not ask about JOBPIPE_CURVE_SERVER_KEY.
        said = (REFUSED_MESSAGE, FAILED_MESSAGE, FAILED_MESSAGE_CURVE)
        lines = d.wait("a refusal or a failed handshake", lambda: [line for line in d.logs() if line.get("msg") in said])
        for line in lines:
            if line["msg"] == REFUSED_MESSAGE:
                self.assertEqual((line["publicKey"], line["reason"]), ("(none)", "wrong_mechanism"))
            else:
                self.assertEqual(line["msg"], FAILED_MESSAGE)
                self.assertNotIn("publicKey", line)

    def test_a_wrong_server_key_is_a_warning_and_libzmq_keeps_trying(self):
        _, server_secret = zmq.curve_keypair()
        wrong_public, _ = zmq.curve_keypair()
        _, worker_secret = zmq.curve_keypair()
        d = Deployment(curve_secret=server_secret, JOBPIPE_CURVE_SERVER_KEY=wrong_public.decode(), JOBPIPE_CURVE_SECRET=worker_secret.decode())
        self.addCleanup(d.close)
        d.wait("a warning per socket", lambda: len([line for line in d.logs() if line.get("msg") == FAILED_MESSAGE_CURVE]) == 2)
        d.pump(0.5)  # libzmq reconnects every 100 ms: still one line per socket
        self.assertEqual(len([line for line in d.logs() if line.get("msg") == FAILED_MESSAGE_CURVE]), 2)
        self.assertEqual([line for line in d.logs() if line.get("msg") == REFUSED_MESSAGE], [])


if __name__ == "__main__":
    unittest.main()
