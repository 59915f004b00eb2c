"""Credit windows, result packing, truncation, settings, worker id and the examples' work."""
import os
import random
import tempfile
import unittest

import helpers  # noqa: F401 - puts the package on sys.path

import zmq

from jobpipe_worker.codec import decode
from jobpipe_worker.config import ConfigError, default_worker_id, load_settings
from jobpipe_worker.credit import Lane
from jobpipe_worker.examples import echo, primes
from jobpipe_worker.packing import error_of, pack_results, truncate_utf16
from jobpipe_worker.schema import utf16_length
from jobpipe_worker.worker import describe_exception, routing_id
from jobpipe_worker import NonRetryableError

MIB = 1024 * 1024


class CreditWindow(unittest.TestCase):
    def check_invariant(self, lane):
        self.assertLessEqual((lane.granted - lane.received) + lane.held, lane.window)
        self.assertLessEqual((lane.granted_bytes - lane.received_bytes) + lane.held_bytes, lane.byte_window)

    def test_first_grant_fills_both_windows(self):
        lane = Lane("p", 5, 32 * MIB)
        self.assertTrue(lane.wants_grant())
        lane.grant()
        self.assertEqual(lane.credit(), {"granted": 5, "received": 0, "grantedBytes": 32 * MIB, "receivedBytes": 0})
        self.assertFalse(lane.wants_grant())

    def test_grants_as_jobs_finish_never_breaking_the_invariant(self):
        rng = random.Random(7)
        lane = Lane("p", 4, 10_000)
        lane.grant()
        held = []  # shares of jobs held
        sent = 0
        for _ in range(2000):
            granted_before = (lane.granted, lane.granted_bytes)
            if rng.random() < 0.5 and lane.granted > sent:
                # The ventilator sends at most what the job credit allows and what fits in bytes.
                count = rng.randint(1, lane.granted - sent)
                size = rng.randint(10, 2500)
                if lane.received_bytes + size > lane.granted_bytes:
                    continue
                held.extend(lane.on_jobs(count, size))
                sent += count
            elif held:
                lane.on_done(held.pop(rng.randrange(len(held))))
            if lane.wants_grant():
                lane.grant()
            self.check_invariant(lane)
            self.assertGreaterEqual((lane.granted, lane.granted_bytes), granted_before)
            self.assertGreaterEqual(lane.granted_bytes, granted_before[1])
            self.assertEqual(lane.held, len(held))
            self.assertEqual(lane.held_bytes, sum(held))
        while held:
            lane.on_done(held.pop())
        lane.grant()
        self.assertEqual(lane.granted - lane.received, 4)
        self.assertEqual(lane.granted_bytes - lane.received_bytes, 10_000)

    def test_shares_add_up_to_the_frame(self):
        lane = Lane("p", 10, 100)
        shares = lane.on_jobs(3, 100)
        self.assertEqual(sum(shares), 100)
        self.assertEqual(max(shares) - min(shares), 1)

    def test_over_sent_jobs_are_kept_and_nothing_is_granted_until_back_under(self):
        lane = Lane("p", 2, 1000)
        lane.grant()
        shares = lane.on_jobs(5, 50)  # the ventilator must not, but the worker copes
        lane.grant()
        self.assertEqual(lane.granted, 2)
        for share in shares[:3]:
            lane.on_done(share)
        lane.grant()  # held 2 = the window: nothing may be on its way
        self.assertEqual(lane.granted, lane.received)
        lane.on_done(shares[3])
        lane.grant()
        self.assertEqual(lane.granted, 6)
        self.check_invariant(lane)


def result(seq, value):
    return {"batch": "b", "seq": seq, "attempt": 1, "dispatchedAt": 0, "durationMs": 1.5, "ok": True, "value": value}


class Packing(unittest.TestCase):
    def test_several_results_share_a_message(self):
        frames, replaced = pack_results("p", "w", [result(i, i) for i in range(100)], 4 * MIB)
        self.assertEqual((len(frames), replaced), (1, 0))
        self.assertEqual(frames[0][1], 100)
        self.assertEqual([r["seq"] for r in decode(frames[0][0])["results"]], list(range(100)))

    def test_halving_keeps_every_frame_within_the_limit_and_the_order(self):
        limit = 2048
        results = [result(i, "v" * (i * 37 % 700)) for i in range(60)]
        frames, replaced = pack_results("p", "w", results, limit)
        self.assertEqual(replaced, 0)
        self.assertGreater(len(frames), 1)
        seqs = []
        for frame, count in frames:
            self.assertLessEqual(len(frame), limit)
            decoded = decode(frame, limit)["results"]
            self.assertEqual(len(decoded), count)
            seqs.extend(r["seq"] for r in decoded)
        self.assertEqual(seqs, list(range(60)))

    def test_a_result_that_alone_does_not_fit_becomes_result_too_large(self):
        frames, replaced = pack_results("p", "w", [result(0, 1), result(1, "z" * 5000), result(2, 2)], 1024)
        self.assertEqual(replaced, 1)
        decoded = [r for frame, _ in frames for r in decode(frame, 1024)["results"]]
        self.assertEqual([r["seq"] for r in decoded], [0, 1, 2])
        self.assertFalse(decoded[1]["ok"])
        self.assertEqual(decoded[1]["error"]["name"], "ResultTooLarge")
        self.assertEqual(decoded[1]["durationMs"], 1.5)


class Truncation(unittest.TestCase):
    def test_error_name_and_message_are_cut_to_their_limits(self):
        error = error_of("N" * 500, "m" * 20_000)
        self.assertEqual((len(error["name"]), len(error["message"])), (200, 10_000))
        self.assertNotIn("retryable", error)
        self.assertIs(error_of("x", "y", retryable=False)["retryable"], False)

    def test_cuts_count_utf16_units_and_never_split_a_pair(self):
        text = "a" + "\U0001f600" * 10
        self.assertEqual(truncate_utf16(text, 4), "a\U0001f600")
        self.assertEqual(utf16_length(truncate_utf16("\U0001f600" * 6000, 10_000)), 10_000)
        self.assertEqual(truncate_utf16("short", 200), "short")

    def test_non_retryable_errors(self):
        self.assertEqual(describe_exception(NonRetryableError("gone", name="NotFound")), {"name": "NotFound", "message": "gone", "retryable": False})
        self.assertEqual(describe_exception(NonRetryableError("bad data")), {"name": "NonRetryableError", "message": "bad data", "retryable": False})

        class Marked(Exception):
            retryable = False

        self.assertIs(describe_exception(Marked("x"))["retryable"], False)
        self.assertEqual(describe_exception(KeyError("k")), {"name": "KeyError", "message": "'k'"})


class Settings(unittest.TestCase):
    def test_defaults(self):
        settings = load_settings({})
        self.assertEqual(settings.jobs_connect, "tcp://127.0.0.1:5557")
        self.assertEqual(settings.results_connect, "tcp://127.0.0.1:5558")
        self.assertEqual((settings.heartbeat_ms, settings.max_message_bytes, settings.credit_bytes), (1000, 4 * MIB, 32 * MIB))
        self.assertEqual((settings.prefetch, settings.concurrency, settings.drain_timeout_ms, settings.job_timeout_ms), (3, 1, 25_000, 0))
        self.assertEqual((settings.metrics_port, settings.log_level), (9102, "info"))
        self.assertEqual(settings.worker_id, default_worker_id())
        self.assertIsNone(settings.curve_server_key)

    def test_credit_bytes_default_follows_a_large_message_limit(self):
        self.assertEqual(load_settings({"JOBPIPE_MAX_MESSAGE_BYTES": str(64 * MIB)}).credit_bytes, 64 * MIB)

    def test_bad_values_are_config_errors_naming_the_setting(self):
        for env, words in (
            ({"JOBPIPE_HEARTBEAT_MS": "fast"}, "JOBPIPE_HEARTBEAT_MS"),
            ({"JOBPIPE_PREFETCH": "0"}, "JOBPIPE_PREFETCH"),
            ({"JOBPIPE_MAX_MESSAGE_BYTES": "10"}, "JOBPIPE_MAX_MESSAGE_BYTES"),
            ({"JOBPIPE_CREDIT_BYTES": "2048", "JOBPIPE_MAX_MESSAGE_BYTES": "4096"}, "at least JOBPIPE_MAX_MESSAGE_BYTES"),
            ({"JOBPIPE_METRICS_PORT": "70000"}, "JOBPIPE_METRICS_PORT"),
            ({"JOBPIPE_LOG_LEVEL": "loud"}, "JOBPIPE_LOG_LEVEL"),
            ({"JOBPIPE_JOBS_CONNECT": "localhost:5557"}, "JOBPIPE_JOBS_CONNECT"),
            ({"JOBPIPE_WORKER_ID": "w" * 201}, "JOBPIPE_WORKER_ID"),
            ({"JOBPIPE_CURVE_SERVER_KEY": "short"}, "JOBPIPE_CURVE_SERVER_KEY"),
            ({"JOBPIPE_CURVE_SERVER_KEY": zmq.curve_keypair()[0].decode()}, "needs both"),
        ):
            with self.subTest(env):
                with self.assertRaises(ConfigError) as caught:
                    load_settings(env)
                self.assertIn(words, str(caught.exception))
                self.assertNotIn("\n", str(caught.exception))

    def test_curve_keys_as_values_or_files(self):
        public, secret = zmq.curve_keypair()
        server_public, _ = zmq.curve_keypair()
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as file:
            file.write(secret.decode() + "\n")
        self.addCleanup(os.unlink, file.name)
        settings = load_settings({"JOBPIPE_CURVE_SERVER_KEY": server_public.decode(), "JOBPIPE_CURVE_SECRET_FILE": file.name})
        self.assertEqual((settings.curve_server_key, settings.curve_secret), (server_public.decode(), secret.decode()))
        self.assertEqual(zmq.curve_public(settings.curve_secret.encode()), public)
        with self.assertRaises(ConfigError):
            load_settings({"JOBPIPE_CURVE_SECRET": secret.decode(), "JOBPIPE_CURVE_SECRET_FILE": file.name})
        with self.assertRaises(ConfigError):
            load_settings({"JOBPIPE_CURVE_SERVER_KEY_FILE": "/nonexistent/key"})


class WorkerIdentity(unittest.TestCase):
    def test_default_worker_id_is_the_host_and_pid_unless_pid_1(self):
        self.assertEqual(default_worker_id("build-7", 4711), "build-7-4711")
        self.assertEqual(default_worker_id("pod-abc", 1), "pod-abc")

    def test_routing_id_form_and_length(self):
        self.assertRegex(routing_id("worker-a", 4711).decode(), r"^worker-a-4711-[0-9a-f]{8}$")
        self.assertNotEqual(routing_id("w", 1), routing_id("w", 1))
        long_id = routing_id("é" * 200, 4711)
        self.assertLessEqual(len(long_id), 255)
        long_id.decode("utf-8")


class Examples(unittest.TestCase):
    def test_primes_counts_like_a_sieve(self):
        limit = 20_000
        sieve = bytearray([1]) * limit
        sieve[0:2] = b"\0\0"
        for n in range(2, int(limit**0.5) + 1):
            if sieve[n]:
                sieve[n * n :: n] = bytearray(len(range(n * n, limit, n)))
        chunks = [primes.count_primes({"from": start, "to": min(limit, start + 3000)}, None) for start in range(0, limit, 3000)]
        self.assertEqual(sum(chunks), sum(sieve))
        self.assertEqual(primes.count_primes({"from": 0, "to": 10}, None), 4)

    def test_echo_returns_what_the_typescript_handler_returns(self):
        class Ctx:
            import threading

            cancelled = threading.Event()

        base = {"workMs": 0, "spin": False, "fail": False, "pad": ""}
        self.assertEqual(echo.echo({**base, "i": 7}, Ctx()), 7)
        self.assertEqual(echo.echo({**base, "i": 7, "mark": True}, Ctx()), {"i": 7, "mark": True})
        self.assertEqual(echo.echo({**base, "i": 0, "first": 12.5}, Ctx()), {"i": 0, "first": 12.5})
        paced = echo.echo({**base, "i": 3, "t": 100.0}, Ctx())
        self.assertEqual((paced["i"], paced["t"]), (3, 100.0))
        self.assertGreater(paced["w"], 0)
        with self.assertRaises(echo.Error) as caught:
            echo.echo({**base, "i": 4, "fail": True}, Ctx())
        self.assertEqual(str(caught.exception), "job 4 fails on purpose (failEvery)")
        self.assertEqual(type(caught.exception).__name__, "Error")


if __name__ == "__main__":
    unittest.main()
