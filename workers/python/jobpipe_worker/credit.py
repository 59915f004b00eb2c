"""Credit of one lane (a pipeline the worker serves), in jobs and in bytes: PROTOCOL.md sections
4 and 4a, applied to each lane on its own as version 2 says (section 3.3).

A lane's window is its slots plus its prefetch. The prefetch is measured (`MeasuredPrefetch`, what
the TypeScript worker does with JOBPIPE_PREFETCH_MS) or fixed (`FixedPrefetch`, JOBPIPE_PREFETCH).
A measured window moves: when it shrinks below what is granted and held, the lane grants nothing
until it is back under it.

Invariants kept here, checked by tests/test_units.py:
    (granted - received) + held <= window            (unless the ventilator over-sent, or the
                                                       window shrank after the grant)
    (granted_bytes - received_bytes) + held_bytes <= byte_window
and neither granted count ever decreases.
"""
import math
import time

EARLY_ESTIMATE_JOBS = 16  # jobs finished before a fresh lane estimates its rate without a sample
SAMPLE_S = 0.1  # how often the I/O thread calls sample()
MAX_PREFETCH = 2000


class FixedPrefetch:
    """A prefetch of a fixed number of jobs (JOBPIPE_PREFETCH)."""

    rate = 0.0

    def __init__(self, jobs):
        if jobs < 1:
            raise ValueError("a prefetch is at least one job")
        self.value = jobs

    def completed(self, count=1, now=None):
        pass

    def sample(self, now=None):
        pass

    def forget(self):
        """Nothing measured to forget: a fixed prefetch is never taken back (Lane.take_back)."""
        return False


class MeasuredPrefetch:
    """A prefetch of `prefetch_ms` worth of the lane's measured throughput:
    ceil(rate * prefetch_ms / 1000), at least 1 and at most `max_prefetch`.

    The rate (jobs/s) is measured over samples of about 100 ms: it rises at once and falls slowly
    (0.7 old + 0.3 new), and an idle sample leaves it as it was. Until a first sample, the lane
    estimates it from its first 16 jobs, so a fresh worker's window opens within milliseconds.
    Times are seconds of time.monotonic()."""

    def __init__(self, prefetch_ms, max_prefetch=MAX_PREFETCH, now=None):
        if prefetch_ms < 0 or max_prefetch < 1:
            raise ValueError("prefetch_ms must be >= 0 and max_prefetch >= 1")
        self.prefetch_ms = prefetch_ms
        self.max_prefetch = max_prefetch
        self.rate = 0.0
        self._since_sample = 0
        self._sample_at = time.monotonic() if now is None else now
        self._first_at = None  # while no rate is known: when the first job finished

    @property
    def value(self):
        measured = math.ceil(self.rate * self.prefetch_ms / 1000)
        return min(self.max_prefetch, max(1, measured))

    def completed(self, count=1, now=None):
        now = time.monotonic() if now is None else now
        self._since_sample += count
        if self.rate > 0:
            # A rate well above the estimate is taken at once, not at the next sample: the first
            # estimate comes from a cold process, and a window sized on it would hold the lane
            # back for a sample or more.
            elapsed = now - self._sample_at
            if self._since_sample < EARLY_ESTIMATE_JOBS or elapsed < 0.001:
                return
            rate = self._since_sample / elapsed
            if rate >= 2 * self.rate:
                self.rate = rate
                self._since_sample = 0
                self._sample_at = now
            return
        # No rate yet: estimate one from the first jobs instead of waiting for the next sample.
        if self._first_at is None:
            self._first_at = now
        elapsed = now - self._first_at
        if self._since_sample >= EARLY_ESTIMATE_JOBS and elapsed >= 0.001:
            self.rate = self._since_sample / elapsed

    def forget(self):
        """Forgets the rate, as a fresh lane has none: measured again from the next jobs."""
        self.rate = 0.0
        self._since_sample = 0
        self._first_at = None
        return True

    def sample(self, now=None):
        """Updates the rate; call it every ~100 ms. An idle period leaves it as it was."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._sample_at
        if elapsed <= 0:
            return
        if self._since_sample > 0:
            rate = self._since_sample / elapsed
            # Rising at once and falling slowly keeps a fast lane's pipe full through short stalls.
            self.rate = rate if rate > self.rate else 0.7 * self.rate + 0.3 * rate
        self._since_sample = 0
        self._sample_at = now


class Lane:
    def __init__(self, pipeline, slots, byte_window, prefetch):
        if slots < 1 or byte_window < 1:
            raise ValueError("a lane needs a window of at least one job and one byte")
        self.pipeline = pipeline
        self.slots = slots
        self.prefetch = prefetch  # FixedPrefetch or MeasuredPrefetch
        self.byte_window = byte_window
        self.granted = 0
        self.received = 0
        self.held = 0
        self.granted_bytes = 0
        self.received_bytes = 0
        self.held_bytes = 0
        self.received_at_beat = 0  # jobs received by the last heartbeat (take_back)

    @property
    def window(self):
        """slots + prefetch: may grow or shrink as the prefetch is measured."""
        return self.slots + self.prefetch.value

    def room(self):
        """(jobs, bytes) that granting now would add; 0 or less when at or over a window."""
        return (
            self.window - (self.granted - self.received) - self.held,
            self.byte_window - (self.granted_bytes - self.received_bytes) - self.held_bytes,
        )

    def wants_grant(self):
        """True when a Credit is worth sending for this lane (rule 2): there is room under a window,
        and enough of it to be worth a message (a quarter of the prefetch in jobs, of the window in
        bytes), or the lane would otherwise run dry."""
        jobs, size = self.room()
        if jobs <= 0 and size <= 0:
            return False
        if self.held == 0:
            return True  # nothing to run here: any room at all, at once
        if jobs >= max(1, self.prefetch.value // 4):
            return True
        return size >= self.byte_window / 4

    def grant(self):
        """Raises the granted counts to fill both windows (rule 2); never lowers them (take_back
        does). True when either rose."""
        granted = max(self.granted, self.received + self.window - self.held)
        granted_bytes = max(self.granted_bytes, self.received_bytes + self.byte_window - self.held_bytes)
        rose = granted > self.granted or granted_bytes > self.granted_bytes
        self.granted, self.granted_bytes = granted, granted_bytes
        return rose

    def take_back(self):
        """Rule 6 (PROTOCOL.md section 4): a lane that holds nothing and received nothing since the
        last heartbeat lowers its grant to what it runs at once plus one, and its measured prefetch
        forgets its rate. Credit granted while its jobs were fast would let the ventilator send it
        the first jobs of a slow batch all at once. True when there was credit to take back."""
        idle = self.held == 0 and self.received == self.received_at_beat
        self.received_at_beat = self.received
        floor = self.received + self.slots + 1
        if not idle or self.granted <= floor or not self.prefetch.forget():
            return False
        self.granted = floor
        return True

    def on_jobs(self, count, frame_bytes):
        """Counts a Jobs message as it arrives; returns each job's share of the frame's bytes."""
        self.received += count
        self.held += count
        self.received_bytes += frame_bytes
        self.held_bytes += frame_bytes
        share, rest = divmod(frame_bytes, count)
        return [share + (1 if i < rest else 0) for i in range(count)]

    def on_done(self, share):
        """A job's result has been handed to the sink: its slot and its bytes are free again."""
        self.held -= 1
        self.held_bytes -= share

    def completed(self, count=1, now=None):
        """Jobs of this lane finished (their outcomes are known): feeds the rate."""
        self.prefetch.completed(count, now)

    def sample(self, now=None):
        self.prefetch.sample(now)

    def credit(self):
        """This lane's entry in a version 2 Credit."""
        return {
            "granted": self.granted,
            "received": self.received,
            "grantedBytes": self.granted_bytes,
            "receivedBytes": self.received_bytes,
            # For operators (the console's workers), never credit: PROTOCOL.md 3.3.
            "slots": self.slots,
        }
