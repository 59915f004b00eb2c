"""Credit windows, result packing, truncation, settings, worker id and the examples' work."""
import math
import os
import random
import tempfile
import unittest

import helpers  # noqa: F401 - puts the package on sys.path

import zmq

from jobpipe_worker.codec import decode
from jobpipe_worker.config import ConfigError, default_worker_id, load_settings
from jobpipe_worker.credit import FixedPrefetch, Lane, MeasuredPrefetch
from jobpipe_worker.examples import echo, primes
from jobpipe_worker.packing import error_of, pack_results, truncate_utf16
from jobpipe_worker.schema import utf16_length
from jobpipe_worker.worker import Job, describe_exception, routing_id
from jobpipe_worker import NonRetryableError

MIB = 1024 * 1024


class CreditWindow(unittest.TestCase):
    def check_invariant(self, lane):
        self.assertLessEqual((lane.granted - lane.received) + lane.held, lane.window)
        self.assertLessEqual((lane.granted_bytes - lane.received_bytes) + lane.held_bytes, lane.byte_window)

    def test_first_grant_fills_both_windows(self):
        lane = Lane("p", 2, 32 * MIB, FixedPrefetch(3))
        self.assertEqual(lane.window, 5)
        self.assertTrue(lane.wants_grant())
        self.assertTrue(lane.grant())
        self.assertEqual(lane.credit(), {"granted": 5, "received": 0, "grantedBytes": 32 * MIB, "receivedBytes": 0, "slots": 2})
        self.assertFalse(lane.wants_grant())
        self.assertFalse(lane.grant())

    def test_a_fresh_measured_lane_asks_for_its_slots_and_one(self):
        lane = Lane("p", 3, 32 * MIB, MeasuredPrefetch(50, now=0.0))
        lane.grant()
        self.assertEqual(lane.granted, 4)

    def test_an_idle_measured_lane_takes_back_its_credit_at_a_heartbeat_and_measures_afresh(self):
        lane = Lane("p", 2, 32 * MIB, MeasuredPrefetch(50, now=0.0))
        lane.prefetch.completed(1000, now=0.0)
        lane.prefetch.sample(now=0.1)  # 10,000 jobs/s: 500 of prefetch
        lane.grant()
        lane.on_jobs(100, 1000)
        self.assertFalse(lane.take_back(), "jobs came since the last beat")
        for _ in range(100):
            lane.on_done(10)
        self.assertTrue(lane.take_back(), "idle for a whole beat")
        self.assertEqual((lane.granted, lane.prefetch.value), (103, 1))
        lane.grant()  # the bytes freed are granted again; no job more
        self.assertEqual(lane.granted, 103)
        self.assertFalse(lane.take_back(), "nothing left to take back")
        fixed = Lane("p", 2, 32 * MIB, FixedPrefetch(50))
        fixed.grant()
        fixed.take_back()
        self.assertFalse(fixed.take_back(), "a fixed prefetch keeps its credit")
        self.assertEqual(fixed.granted, 52)

    def test_grants_as_jobs_finish_never_breaking_the_invariant(self):
        rng = random.Random(7)
        lane = Lane("p", 4, 10_000, FixedPrefetch(1))
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
            self.assertGreaterEqual(lane.granted, granted_before[0])
            self.assertGreaterEqual(lane.granted_bytes, granted_before[1])
            self.assertEqual(lane.held, len(held))
            self.assertEqual(lane.held_bytes, sum(held))
        while held:
            lane.on_done(held.pop())
        lane.grant()
        self.assertEqual(lane.granted - lane.received, 5)
        self.assertEqual(lane.granted_bytes - lane.received_bytes, 10_000)

    def test_an_adaptive_window_keeps_the_invariants_as_it_grows_and_shrinks(self):
        """2,000 random steps with a measured prefetch: the rate (and the window) rises and falls
        with the pace of completions; a grant never goes over the window of its moment, one made
        while over it (the window shrank) raises nothing, and granted counts never fall."""
        rng = random.Random(11)
        clock = 0.0
        prefetch = MeasuredPrefetch(50, max_prefetch=2000, now=clock)
        lane = Lane("p", 2, 200_000, prefetch)
        lane.grant()
        held = []
        sent = 0
        last_sample = clock
        windows = set()
        shrank_while_over = 0
        for step in range(2000):
            # Phases of fast and slow completions make the window move both ways.
            fast = (step // 250) % 2 == 0
            clock += rng.uniform(0.00005, 0.0003) if fast else rng.uniform(0.002, 0.02)
            before = (lane.granted, lane.granted_bytes)
            if rng.random() < 0.5 and lane.granted > sent:
                count = rng.randint(1, lane.granted - sent)
                size = rng.randint(10, 30) * count
                if lane.received_bytes + size > lane.granted_bytes:
                    continue
                held.extend(lane.on_jobs(count, size))
                sent += count
            elif held:
                done = rng.randint(1, min(len(held), 40 if fast else 2))
                for _ in range(done):
                    lane.on_done(held.pop(rng.randrange(len(held))))
                lane.completed(done, clock)
            if clock - last_sample >= 0.1:
                lane.sample(clock)
                last_sample = clock
            windows.add(lane.window)
            outstanding = (lane.granted - lane.received) + lane.held
            if outstanding > lane.window:
                shrank_while_over += 1
            if lane.wants_grant():
                rose = lane.grant()
                after = (lane.granted - lane.received) + lane.held
                if rose and lane.granted > before[0]:
                    self.assertEqual(after, lane.window)  # filled to the window, not beyond
                if outstanding >= lane.window:
                    self.assertEqual(lane.granted, before[0])  # at or over the window: no jobs granted
            self.assertLessEqual((lane.granted_bytes - lane.received_bytes) + lane.held_bytes, lane.byte_window)
            self.assertLessEqual((lane.granted - lane.received) + lane.held, max(windows))
            self.assertGreaterEqual(lane.granted, before[0])
            self.assertGreaterEqual(lane.granted_bytes, before[1])
            self.assertEqual((lane.held, lane.held_bytes), (len(held), sum(held)))
        # The window really moved both ways, and at times was over the window after a shrink.
        self.assertGreater(max(windows), 50)
        self.assertLess(min(windows), 10)
        self.assertGreater(shrank_while_over, 0)
        while held:
            lane.on_done(held.pop())
        lane.grant()
        self.check_invariant(lane)

    def test_a_shrunk_window_grants_nothing_until_back_under_it(self):
        prefetch = FixedPrefetch(10)
        lane = Lane("p", 2, 1000, prefetch)
        lane.grant()
        shares = lane.on_jobs(12, 120)
        prefetch.value = 2  # the measured rate fell: window 12 -> 4
        self.assertFalse(lane.grant())
        self.assertEqual(lane.granted, 12)
        for share in shares[:8]:
            lane.on_done(share)
            lane.grant()  # bytes may rise, jobs may not
            self.assertEqual(lane.granted, 12)  # held 11 down to 4 = the window: never lowered
        lane.on_done(shares[8])
        self.assertTrue(lane.grant())
        self.assertEqual(lane.granted, 13)
        self.check_invariant(lane)

    def test_small_grants_wait_until_worth_a_message_unless_the_lane_runs_dry(self):
        lane = Lane("p", 1, 32 * MIB, FixedPrefetch(400))
        lane.grant()
        shares = lane.on_jobs(401, 401 * 100)
        for share in shares[:99]:
            lane.on_done(share)
        self.assertFalse(lane.wants_grant())  # room for 99 jobs, a quarter of the prefetch is 100
        lane.on_done(shares[99])
        self.assertTrue(lane.wants_grant())
        lane.grant()
        # Nothing held: any room is granted at once.
        dry = Lane("p", 1, 32 * MIB, FixedPrefetch(400))
        dry.grant()
        dry.on_done(dry.on_jobs(1, 100)[0])
        self.assertTrue(dry.wants_grant())

    def test_shares_add_up_to_the_frame(self):
        lane = Lane("p", 9, 100, FixedPrefetch(1))
        shares = lane.on_jobs(3, 100)
        self.assertEqual(sum(shares), 100)
        self.assertEqual(max(shares) - min(shares), 1)

    def test_over_sent_jobs_are_kept_and_nothing_is_granted_until_back_under(self):
        lane = Lane("p", 1, 1000, FixedPrefetch(1))
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


class RateEstimate(unittest.TestCase):
    def test_prefetch_is_the_measured_rate_times_prefetch_ms(self):
        # Times in s, multiples of 1/8 so that the sums are exact.
        p = MeasuredPrefetch(40, now=0.0)
        self.assertEqual((p.rate, p.value), (0.0, 1))  # nothing measured: 1
        p.sample(0.125)  # an idle sample leaves it as it was
        self.assertEqual(p.value, 1)
        p.completed(1000, 0.25)
        self.assertEqual(p.rate, 0)  # the first job and the 1,000th at the same moment: no estimate
        p.sample(0.25)  # 1,000 jobs in 125 ms: 8,000 jobs/s, 320 jobs in 40 ms
        self.assertEqual((p.rate, p.value), (8000, 320))
        p.completed(100, 0.375)
        p.sample(0.375)  # 800 jobs/s: falls slowly, 0.7 x 8,000 + 0.3 x 800
        self.assertAlmostEqual(p.rate, 5840)
        self.assertEqual(p.value, math.ceil(5840 * 0.04))
        p.sample(0.5)  # idle: unchanged
        self.assertAlmostEqual(p.rate, 5840)
        p.completed(1500, 0.625)
        p.sample(0.625)  # 12,000 jobs/s: rises at once (and from the completions already, over twice)
        self.assertEqual((p.rate, p.value), (12_000, 480))
        p.completed(1000, 0.75)
        p.sample(0.75)  # 8,000 jobs/s
        self.assertAlmostEqual(p.rate, 0.7 * 12_000 + 0.3 * 8000)

    def test_bounds(self):
        p = MeasuredPrefetch(50, now=0.0)
        p.completed(100_000, 0.05)
        p.sample(0.1)  # 1,000,000 jobs/s would be 50,000
        self.assertEqual(p.value, 2000)
        slow = MeasuredPrefetch(50, now=0.0)
        slow.completed(1, 0.05)
        slow.sample(1.0)  # 1 job/s: 0.05 rounds up to 1
        self.assertEqual(slow.value, 1)
        zero = MeasuredPrefetch(0, now=0.0)
        zero.completed(5000, 0.05)
        zero.sample(0.1)
        self.assertEqual(zero.value, 1)

    def test_an_early_estimate_after_the_first_16_jobs(self):
        p = MeasuredPrefetch(50, now=0.0)
        p.completed(1, 0.5)
        p.completed(14, 0.5078125)
        self.assertEqual(p.rate, 0)  # 15 jobs: not yet
        p.completed(1, 0.515625)  # 16 jobs in 15.625 ms since the first: 1,024 jobs/s
        self.assertEqual((p.rate, p.value), (1024, 52))

    def test_a_much_higher_rate_is_taken_before_the_next_sample(self):
        p = MeasuredPrefetch(50, now=0.0)
        p.completed(125, 0.0625)
        p.sample(0.125)  # 1,000 jobs/s
        p.completed(10, 0.126)
        self.assertEqual(p.rate, 1000)  # fewer than 16 jobs: wait
        p.completed(70, 0.140625)  # 80 jobs in 15.625 ms: 5,120 jobs/s, over twice the estimate
        self.assertEqual((p.rate, p.value), (5120, 256))
        p.completed(40, 0.15625)  # 40 jobs in 15.625 ms since: 2,560 jobs/s, wait for the sample
        self.assertEqual(p.rate, 5120)

    def test_a_fixed_prefetch_does_not_move(self):
        p = FixedPrefetch(3)
        p.completed(1000, 0.1)
        p.sample(0.2)
        self.assertEqual(p.value, 3)
        with self.assertRaises(ValueError):
            FixedPrefetch(0)


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


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TraceContext(unittest.TestCase):
    """A job's traceparent and tracestate go onto its result (PROTOCOL.md 3.1, "Trace context")."""

    def wire(self, **trace):
        return {"batch": "b", "seq": 3, "attempt": 1, "dispatchedAt": 0, "payload": 7, **trace}

    def test_a_traced_job_s_result_carries_its_trace_fields_ok_or_failed(self):
        job = Job("p", self.wire(traceparent=TRACEPARENT, tracestate="vendor=x"), 0)
        done = job.result(1.0, True, value=49)
        self.assertEqual((done["traceparent"], done["tracestate"]), (TRACEPARENT, "vendor=x"))
        failed = job.result(1.0, False, error=error_of("TypeError", "no"))
        self.assertEqual((failed["traceparent"], failed["tracestate"]), (TRACEPARENT, "vendor=x"))
        frames, _ = pack_results("p", "w", [done, failed], 4 * MIB)
        self.assertEqual([r["traceparent"] for r in decode(frames[0][0])["results"]], [TRACEPARENT, TRACEPARENT])

    @staticmethod
    def started(job, at):
        """The job as a slot thread leaves it when its handler starts at `at` (epoch ms)."""
        job.started_at = at
        return job

    def test_a_traced_run_names_the_handler_span_and_sends_it_for_the_sink(self):
        """PROTOCOL.md 3.2, "The handler's span": a new span of the job's trace, its parent the job's."""
        wire = self.wire(traceparent=TRACEPARENT, tracestate="vendor=x")
        done = self.started(Job("p", wire, 0), 1767225600001.25).result(12.5, True, value=49)
        failed = self.started(Job("p", wire, 0), 1767225600002).result(3.0, False, error=error_of("TypeError", "no"))
        for result, started_at in ((done, 1767225600001.25), (failed, 1767225600002)):
            self.assertRegex(result["traceparent"], r"^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$")
            self.assertNotEqual(result["traceparent"], TRACEPARENT)
            self.assertEqual(result["handlerSpan"], {"parentSpanId": "00f067aa0ba902b7", "startedAt": started_at})
            self.assertEqual(result["tracestate"], "vendor=x")
        self.assertNotEqual(done["traceparent"], failed["traceparent"])
        frames, _ = pack_results("p", "w", [done, failed], 4 * MIB)
        self.assertEqual([r["handlerSpan"]["parentSpanId"] for r in decode(frames[0][0])["results"]], ["00f067aa0ba902b7"] * 2)
        # Too large to send: the failure that replaces it keeps the span.
        big = self.started(Job("p", wire, 0), 1767225600003).result(1.0, True, value="z" * 5000)
        frames, _ = pack_results("p", "w", [big], 1024)
        self.assertEqual(decode(frames[0][0], 1024)["results"][0]["handlerSpan"], big["handlerSpan"])

    def test_no_handler_span_for_an_unsampled_job_or_one_that_never_ran(self):
        unsampled = TRACEPARENT[:-2] + "00"
        done = self.started(Job("p", self.wire(traceparent=unsampled), 0), 1767225600000).result(1.0, True, value=49)
        self.assertEqual((done["traceparent"], "handlerSpan" in done), (unsampled, False))
        cancelled = Job("p", self.wire(traceparent=TRACEPARENT), 0).result(0, False, error=error_of("Cancelled", "batch cancelled"))
        self.assertEqual((cancelled["traceparent"], "handlerSpan" in cancelled), (TRACEPARENT, False))

    def test_an_untraced_job_s_result_has_no_trace_fields(self):
        done = Job("p", self.wire(), 0).result(1.0, True, value=49)
        self.assertNotIn("traceparent", done)
        self.assertNotIn("tracestate", done)

    def test_result_too_large_keeps_the_trace(self):
        big = Job("p", self.wire(traceparent=TRACEPARENT), 0).result(1.0, True, value="z" * 5000)
        frames, replaced = pack_results("p", "w", [big], 1024)
        self.assertEqual(replaced, 1)
        decoded = decode(frames[0][0], 1024)["results"][0]
        self.assertEqual((decoded["error"]["name"], decoded["traceparent"]), ("ResultTooLarge", TRACEPARENT))

    def test_a_malformed_traceparent_makes_the_jobs_message_bad_fields(self):
        from jobpipe_worker.codec import DecodeError, encode

        for bad in (TRACEPARENT.upper(), TRACEPARENT + "\n", "00-xyz", 7):
            with self.subTest(bad=bad), self.assertRaises(DecodeError):
                decode(encode({"type": "Jobs", "pipeline": "p", "jobs": [self.wire(traceparent=bad)]}))


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
        self.assertEqual((settings.prefetch_ms, settings.prefetch), (50, None))  # measured, not fixed
        self.assertEqual((settings.concurrency, settings.drain_timeout_ms, settings.job_timeout_ms), (1, 25_000, 0))
        self.assertEqual((settings.metrics_port, settings.log_level), (9102, "info"))
        self.assertEqual(settings.worker_id, default_worker_id())
        self.assertIsNone(settings.curve_server_key)

    def test_prefetch_measured_or_fixed(self):
        self.assertEqual(load_settings({"JOBPIPE_PREFETCH_MS": "200"}).prefetch_ms, 200)
        self.assertEqual(load_settings({"JOBPIPE_PREFETCH_MS": "0"}).prefetch_ms, 0)
        self.assertEqual(load_settings({"JOBPIPE_PREFETCH": "4"}).prefetch, 4)

    def test_credit_bytes_default_follows_a_large_message_limit(self):
        self.assertEqual(load_settings({"JOBPIPE_MAX_MESSAGE_BYTES": str(64 * MIB)}).credit_bytes, 64 * MIB)

    def test_bad_values_are_config_errors_naming_the_setting(self):
        for env, words in (
            ({"JOBPIPE_HEARTBEAT_MS": "fast"}, "JOBPIPE_HEARTBEAT_MS"),
            ({"JOBPIPE_PREFETCH": "0"}, "JOBPIPE_PREFETCH"),
            ({"JOBPIPE_PREFETCH_MS": "-1"}, "JOBPIPE_PREFETCH_MS"),
            ({"JOBPIPE_PREFETCH_MS": "60001"}, "JOBPIPE_PREFETCH_MS"),
            ({"JOBPIPE_MAX_MESSAGE_BYTES": "10"}, "JOBPIPE_MAX_MESSAGE_BYTES"),
            ({"JOBPIPE_CREDIT_BYTES": "2048", "JOBPIPE_MAX_MESSAGE_BYTES": "4096"}, "at least JOBPIPE_MAX_MESSAGE_BYTES"),
            ({"JOBPIPE_METRICS_PORT": "70000"}, "JOBPIPE_METRICS_PORT"),
            ({"JOBPIPE_LOG_LEVEL": "loud"}, "JOBPIPE_LOG_LEVEL"),
            ({"JOBPIPE_JOBS_CONNECT": "localhost:5557"}, "JOBPIPE_JOBS_CONNECT"),
            ({"JOBPIPE_WORKER_ID": "w" * 201}, "JOBPIPE_WORKER_ID"),
            ({"JOBPIPE_WORKER_ID": "\u00e9" * 101}, "JOBPIPE_WORKER_ID"),
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
