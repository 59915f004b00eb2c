"""The worker: one I/O thread owns both sockets; each pipeline runs its handlers on a pool of
`slots` threads. The slot threads take the pipeline's waiting jobs themselves, one after another
(so a busy pipeline does not wait for the I/O thread between jobs), and hand outcomes back through
a queue, waking the I/O thread by writing a byte to a pipe its poller watches (pyzmq sockets are
not thread-safe).
"""
import collections
import json
import os
import queue
import secrets
import signal
import threading
import time

import zmq

from .api import JobContext, NonRetryableError
from .codec import DecodeError, decode, encode_body
from .config import ConfigError
from .credit import SAMPLE_S, FixedPrefetch, Lane, MeasuredPrefetch
from .handshakes import HandshakeWatch
from .packing import error_of, pack_results

ACCEPTED = ("Jobs", "Drained", "Cancel")  # what a worker DEALER accepts (PROTOCOL.md section 1)
MAX_POLL_MS = 100
SEND_RETRY_S = 0.05  # a Credit or Drain the ventilator could not take is tried again this soon
READS_PER_TURN = 1000  # frames read before the loop looks at outcomes and credit again
RESULTS_LINGER_MS = 5000  # lets results sent just before exit reach the sink

WAITING, RUNNING, FINISHED, TIMED_OUT = "waiting", "running", "finished", "timed_out"


class Job:
    """A job the worker holds, from its arrival until its result is handed to the sink."""

    __slots__ = ("pipeline", "batch", "seq", "attempt", "dispatched_at", "payload", "share", "state", "ctx", "deadline", "cancel_requested", "trace", "started_at")

    def __init__(self, pipeline, wire, share):
        self.pipeline = pipeline
        self.batch = wire["batch"]
        self.seq = wire["seq"]
        self.attempt = wire["attempt"]
        self.dispatched_at = wire["dispatchedAt"]
        self.payload = wire["payload"]
        # The job's trace context (PROTOCOL.md 3.1, "Trace context"): copied onto its result, so
        # the trace goes on to the sink. None for the untraced (nearly every job).
        self.trace = trace_fields(wire)
        self.share = share  # this job's part of its Jobs frame's bytes (section 4a)
        self.state = WAITING  # changed under its runner's lock: decides between an end and a timeout
        self.ctx = None
        self.deadline = None
        self.cancel_requested = False
        self.started_at = None  # epoch ms when a slot thread started its handler: its span's start

    def result(self, duration_ms, ok, value=None, error=None):
        """The job's result. Once its handler has started (`started_at`), a traced job's result
        carries the handler's span, for the sink to export."""
        result = {"batch": self.batch, "seq": self.seq, "attempt": self.attempt, "dispatchedAt": self.dispatched_at, "durationMs": duration_ms, "ok": ok}
        if ok:
            result["value"] = value
        else:
            result["error"] = error
        if self.trace:
            result.update((self.started_at is not None and handler_span(self.trace, self.started_at)) or self.trace)
        return result


TRACE_FIELDS = ("traceparent", "tracestate")
ZERO_SPAN_ID = "0" * 16


def trace_fields(wire):
    """A job's trace fields, for its result: None when it has none."""
    if "traceparent" not in wire:
        return None
    return {key: wire[key] for key in TRACE_FIELDS if key in wire}


def handler_span(trace, started_at):
    """A traced job's result fields that name the worker's span of its handler run, started at
    `started_at` (epoch ms), and carry that span for the sink to export (PROTOCOL.md 3.2, "The
    handler's span"); None when the job's traceparent is not sampled or names no valid span."""
    parent = trace["traceparent"]
    trace_id, parent_id = parent[3:35], parent[36:52]
    if not int(parent[53:55], 16) & 1 or trace_id == "0" * 32 or parent_id == ZERO_SPAN_ID:
        return None
    span_id = ZERO_SPAN_ID
    while span_id == ZERO_SPAN_ID:
        span_id = secrets.token_hex(8)
    fields = {"traceparent": f"00-{trace_id}-{span_id}-01", "handlerSpan": {"parentSpanId": parent_id, "startedAt": started_at}}
    if "tracestate" in trace:
        fields["tracestate"] = trace["tracestate"]
    return fields


class Runner:
    """One pipeline: its handler, its lane of credit (I/O thread only), its jobs and its threads.

    `waiting` and `running` are shared with the slot threads, under `cond`. A job is in `running`
    from the moment a slot thread takes it until the I/O thread has collected its outcome (or
    reported its timeout), so "holds nothing" never misses an outcome still in the queue."""

    def __init__(self, spec, slots, lane):
        self.spec = spec
        self.name = spec.name
        self.slots = slots
        self.lane = lane
        self.cond = threading.Condition()
        self.waiting = collections.deque()
        self.running = set()
        self.stopping = False
        self.threads = 0


def describe_exception(error):
    """name, message and retryable of a handler's exception, as the wire carries them."""
    name = getattr(error, "name", None)
    if not isinstance(name, str):
        name = type(error).__name__
    retryable = not (isinstance(error, NonRetryableError) or getattr(error, "retryable", True) is False)
    return error_of(name, str(error), retryable)


class Worker:
    def __init__(self, settings, specs, logger, metrics):
        if not specs:
            raise ValueError("no pipeline registered: decorate a handler with @pipeline(name)")
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.worker_id = settings.worker_id
        self.runners = {}
        for spec in specs.values():
            slots = spec.slots or settings.concurrency
            if settings.prefetch is not None:
                prefetch = FixedPrefetch(settings.prefetch)
            else:
                prefetch = MeasuredPrefetch(settings.prefetch_ms)
            lane = Lane(spec.name, slots, settings.credit_bytes, prefetch)
            self.runners[spec.name] = Runner(spec, slots, lane)
            metrics.set("jobpipe_worker_slots", slots, pipeline=spec.name)
            metrics.set("jobpipe_worker_jobs_active", 0, pipeline=spec.name)
            metrics.set("jobpipe_worker_jobs_held", 0, pipeline=spec.name)
        self.limit = settings.max_message_bytes
        self.heartbeat = settings.heartbeat_ms / 1000
        self.job_timeout = settings.job_timeout_ms / 1000 if settings.job_timeout_ms > 0 else None
        self.outcomes = queue.SimpleQueue()
        self.outbox = collections.OrderedDict()  # pipeline -> [(result, job or None)]
        self.unknown_received = 0  # jobs of pipelines this worker does not serve (WrongPipeline)
        self.signals = 0
        self.draining = False
        self.drain_started = None
        self.drained_sent = None
        self.drain_wait_over = False
        self.last_beat = None
        self.credit_unsent = False  # a Credit could not leave: try again soon, not at the next beat
        self.last_sample = time.monotonic()
        self.ready = False
        self.malformed_logged = collections.deque()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.routing_id = routing_id(self.worker_id)

    # ---- counts -------------------------------------------------------------------------------

    @property
    def received(self):
        """Total jobs received this session, of every pipeline: what Drain carries."""
        return sum(runner.lane.received for runner in self.runners.values()) + self.unknown_received

    def holds_anything(self):
        for runner in self.runners.values():
            with runner.cond:
                if runner.waiting or runner.running:
                    return True
        return any(self.outbox.values())

    # ---- sockets ------------------------------------------------------------------------------

    def _open_sockets(self):
        self.context = zmq.Context()
        self.dealer = self.context.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.ROUTING_ID, self.routing_id)
        self.dealer.setsockopt(zmq.MAXMSGSIZE, 2 * self.limit)  # between limit and 2x: too_large; above: cut
        self.dealer.setsockopt(zmq.LINGER, 0)  # the worker drains before it closes
        # Queue nothing while not connected: a Credit that cannot leave now is sent again (and
        # up to date) on the next turn, rather than a pile of stale ones on connection.
        self.dealer.setsockopt(zmq.IMMEDIATE, 1)
        self.push = self.context.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, RESULTS_LINGER_MS)
        settings = self.settings
        public_key = None
        if settings.curve_server_key:
            secret = settings.curve_secret.encode("ascii")
            public_key = zmq.curve_public(secret).decode("ascii")
            for sock in (self.dealer, self.push):
                sock.setsockopt(zmq.CURVE_SERVERKEY, settings.curve_server_key.encode("ascii"))
                sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
                sock.setsockopt(zmq.CURVE_PUBLICKEY, public_key.encode("ascii"))
        # A refused handshake is never retried by libzmq: the watches reconnect (handshakes.py).
        # libzmq gives up for good a connection the DEALER cut for a message above its MAXMSGSIZE.
        too_big = f"was a Jobs message above twice JOBPIPE_MAX_MESSAGE_BYTES ({self.limit})? give the worker the ventilator's limit"
        self.jobs_watch = HandshakeWatch(self.dealer, settings.jobs_connect, "jobs", public_key, self.logger, abandoned_cause=too_big)
        self.results_watch = HandshakeWatch(self.push, settings.results_connect, "results", public_key, self.logger)
        self.watches = {watch.start(): watch for watch in (self.jobs_watch, self.results_watch)}
        for sock, name, endpoint in ((self.dealer, "JOBPIPE_JOBS_CONNECT", settings.jobs_connect), (self.push, "JOBPIPE_RESULTS_CONNECT", settings.results_connect)):
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as error:
                self.context.destroy(linger=0)
                raise ConfigError(f"{name} {endpoint!r}: {error}") from None
        self.poller = zmq.Poller()
        self.poller.register(self.dealer, zmq.POLLIN)
        self.poller.register(self.wake_read, zmq.POLLIN)
        for monitor in self.watches:
            self.poller.register(monitor, zmq.POLLIN)
        self.push_waiting = False  # registered for POLLOUT: results are waiting for the sink

    def _close_sockets(self, flush):
        for watch in self.watches.values():
            watch.stop()  # before term(): an open monitor would hold it up
        self.dealer.close(linger=0)
        self.push.close(linger=RESULTS_LINGER_MS if flush else 0)
        self.context.term()
        os.close(self.wake_read)
        os.close(self.wake_write)

    def wake(self):
        try:
            os.write(self.wake_write, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full, so the I/O thread will wake anyway

    # ---- threads ------------------------------------------------------------------------------

    def _start_thread(self, runner):
        runner.threads += 1
        thread = threading.Thread(target=self._slot_loop, args=(runner,), name=f"jobpipe-{runner.name}-{runner.threads}", daemon=True)
        thread.start()

    def _slot_loop(self, runner):
        while True:
            with runner.cond:
                while not runner.waiting and not runner.stopping:
                    runner.cond.wait()
                if runner.stopping:
                    return
                job = runner.waiting.popleft()
                job.state = RUNNING
                job.started_at = time.time() * 1000
                if self.job_timeout is not None:
                    job.deadline = time.monotonic() + self.job_timeout
                runner.running.add(job)
            self.metrics.inc("jobpipe_worker_jobs_active", 1, pipeline=runner.name)
            result = self._execute(runner, job)
            with runner.cond:
                late = job.state != RUNNING
                if not late:
                    job.state = FINISHED
            if late:  # its slot was given up at the timeout, and counted so
                # Its timeout was reported and another thread took this one's slot: the outcome
                # is dropped (exactly one result per job) and this thread leaves the pool.
                job.ctx.logger.warn("late outcome of a timed-out job dropped", ok=result["ok"], durationMs=result["durationMs"])
                return
            self.metrics.inc("jobpipe_worker_jobs_active", -1, pipeline=runner.name)
            self.outcomes.put((runner, job, result))
            self.wake()

    def _execute(self, runner, job):
        spec = runner.spec
        started = time.monotonic()
        try:
            value = spec.handler(job.payload, job.ctx) if spec.takes_context else spec.handler(job.payload)
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as error:
                error = error_of(type(error).__name__, f"the result could not be sent as JSON: {error}")
                return job.result((time.monotonic() - started) * 1000, False, error=error)
            return job.result((time.monotonic() - started) * 1000, True, value=value)
        except BaseException as error:  # noqa: BLE001 - every job gets exactly one result
            return job.result((time.monotonic() - started) * 1000, False, error=describe_exception(error))

    # ---- the loop -----------------------------------------------------------------------------

    def run(self):
        """Runs until drained after SIGTERM/SIGINT (or stop()); returns the process exit code."""
        self._open_sockets()
        for runner in self.runners.values():
            for _ in range(runner.slots):
                self._start_thread(runner)
        self.ready = True
        self.logger.info(
            "worker started",
            pipelines={name: runner.slots for name, runner in self.runners.items()},
            routingId=self.routing_id.decode("utf-8", "replace"),
            jobsConnect=self.settings.jobs_connect,
            resultsConnect=self.settings.results_connect,
            curve=bool(self.settings.curve_server_key),
        )
        code = 0
        flush = True
        try:
            while True:
                now = time.monotonic()
                events = dict(self.poller.poll(self._poll_ms(now)))
                if self.dealer in events:
                    self._read_dealer()
                if self.wake_read in events:
                    self._drain_wake_pipe()
                for monitor, watch in self.watches.items():
                    if monitor in events:
                        watch.read_events()
                    watch.retry_if_due(time.monotonic())
                self._take_outcomes()
                if self.signals >= 2:
                    self.logger.warn("second signal: exiting without draining")
                    code, flush = 1, False
                    break
                if self.signals == 1 and not self.draining:
                    self.logger.info("stop requested (SIGTERM or SIGINT): draining")
                    self._start_drain()
                now = time.monotonic()
                if now - self.last_sample >= SAMPLE_S:
                    self.last_sample = now
                    for runner in self.runners.values():
                        runner.lane.sample(now)
                self._check_timeouts(now)
                self._flush_results()
                self._send_credit_or_drain(now)
                if self.draining and self._drain_finished(now):
                    break
        finally:
            self.ready = False
            for runner in self.runners.values():
                with runner.cond:
                    runner.stopping = True  # idle threads leave; busy ones are daemons
                    runner.cond.notify_all()
            self._close_sockets(flush)
        return code

    def stop(self):
        """What SIGTERM does: start draining. Safe from any thread and from a signal handler."""
        self.signals += 1
        self.wake()

    def _poll_ms(self, now):
        due = [MAX_POLL_MS / 1000]
        due.extend(retry for retry in (watch.retry_in(now) for watch in self.watches.values()) if retry is not None)
        if self.last_beat is not None:
            # Overdue only when the last send failed (not connected): retry soon, not in a spin.
            beat_in = self.last_beat + self.heartbeat - now
            due.append(beat_in if beat_in > 0 and not self.credit_unsent else SEND_RETRY_S)
        if self.job_timeout is not None:
            for runner in self.runners.values():
                with runner.cond:
                    due.extend(job.deadline - now for job in runner.running if job.state == RUNNING)
        if self.draining:
            # Only deadlines still ahead: a passed one must not turn the loop into a spin.
            if not self.drain_wait_over:
                due.append(max(0, self.drain_started + 3 * self.heartbeat - now))
            due.append(max(0, self.drain_started + self.settings.drain_timeout_ms / 1000 - now))
        return max(0, int(min(due) * 1000) + 1)

    def _drain_wake_pipe(self):
        try:
            while os.read(self.wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _read_dealer(self):
        for _ in range(READS_PER_TURN):
            try:
                frame = self.dealer.recv(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            self._on_frame(frame)

    def _on_frame(self, frame):
        try:
            message = decode(frame, self.limit, ACCEPTED)
        except DecodeError as error:
            self._malformed(error.reason, error.detail, len(frame))
            return
        kind = message["type"]
        if kind == "Jobs":
            self._on_jobs(message, len(frame))
        elif kind == "Drained":
            self.drained_sent = message["sent"]
            self.logger.debug("drained", sent=message["sent"], received=self.received)
        elif kind == "Cancel":
            self._on_cancel(message)

    def _malformed(self, reason, detail, size):
        self.metrics.inc("jobpipe_malformed_messages_total", role="worker", reason=reason)
        # At most 10 lines in 10 s: a flood of garbage must not flood the logs too.
        now = time.monotonic()
        while self.malformed_logged and now - self.malformed_logged[0] > 10:
            self.malformed_logged.popleft()
        if len(self.malformed_logged) < 10:
            self.malformed_logged.append(now)
            self.logger.warn("dropped a malformed message", reason=reason, detail=detail, bytes=size)

    def _on_jobs(self, message, size):
        pipeline = message["pipeline"]
        wire_jobs = message["jobs"]
        runner = self.runners.get(pipeline)
        if runner is None:
            # Counted in the total (Drain) and in no lane; each job fails at once (rule 5).
            self.unknown_received += len(wire_jobs)
            self.logger.warn("jobs of a pipeline this worker does not serve", pipeline=pipeline, jobs=len(wire_jobs))
            error = error_of("WrongPipeline", f"this worker serves {', '.join(self.runners)}, not {pipeline}", retryable=True)
            box = self.outbox.setdefault(pipeline, [])
            for wire in wire_jobs:
                job = Job(pipeline, wire, 0)
                box.append((job.result(0, False, error=dict(error)), None))
            return
        shares = runner.lane.on_jobs(len(wire_jobs), size)
        jobs = []
        for wire, share in zip(wire_jobs, shares):
            job = Job(pipeline, wire, share)
            job.ctx = JobContext(pipeline, job.batch, job.seq, job.attempt, job.dispatched_at, self.worker_id, self.logger.child(batch=job.batch, job=f"{job.batch}:{job.seq}"))
            jobs.append(job)
        with runner.cond:
            runner.waiting.extend(jobs)
            runner.cond.notify(len(jobs))
        self.metrics.set("jobpipe_worker_jobs_held", runner.lane.held, pipeline=pipeline)

    def _on_cancel(self, message):
        runner = self.runners.get(message["pipeline"])
        if runner is None:
            return
        batch = message["batch"]
        seqs = set(message["seqs"]) if "seqs" in message else None

        def matches(job):
            return job.batch == batch and (seqs is None or job.seq in seqs)

        with runner.cond:
            dropped = [job for job in runner.waiting if matches(job)]
            if dropped:
                runner.waiting = collections.deque(job for job in runner.waiting if not matches(job))
            stopping = [job for job in runner.running if matches(job) and job.state == RUNNING]
            for job in stopping:
                job.cancel_requested = True  # its end is reported as Cancelled
        for job in dropped:
            # Never started: failed at once, which still ends the job for the credit count.
            self._finish(runner, job, job.result(0, False, error=cancelled_error(batch)))
        for job in stopping:
            job.ctx.cancelled.set()  # the handler sees it
        cancelled, running = len(dropped), len(stopping)
        self.logger.info("cancel", pipeline=runner.name, batch=batch, seqs=len(seqs) if seqs else "all", waiting=cancelled, running=running)

    def _take_outcomes(self):
        finished = collections.Counter()
        while True:
            try:
                runner, job, result = self.outcomes.get_nowait()
            except queue.Empty:
                break
            with runner.cond:
                runner.running.discard(job)
            if job.cancel_requested:
                result = job.result(result["durationMs"], False, error=cancelled_error(job.batch))
            self._finish(runner, job, result)
            finished[runner] += 1
        if finished:
            now = time.monotonic()
            for runner, count in finished.items():
                runner.lane.completed(count, now)  # the lane's measured rate, hence its prefetch

    def _finish(self, runner, job, result):
        """Queues a job's one result for the sink and counts it."""
        outcome = "ok" if result["ok"] else "failed"
        self.metrics.inc("jobpipe_worker_jobs_run_total", pipeline=runner.name, outcome=outcome)
        self.metrics.inc("jobpipe_worker_job_seconds_total", result["durationMs"] / 1000, pipeline=runner.name)
        if not result["ok"]:
            job.ctx.logger.debug("job failed", error=result["error"]["name"], attempt=job.attempt)
        self.outbox.setdefault(runner.name, []).append((result, job))

    def _check_timeouts(self, now):
        if self.job_timeout is None:
            return
        for runner in self.runners.values():
            with runner.cond:
                # A job that finished just now is FINISHED, and its outcome is in the queue.
                expired = [job for job in runner.running if job.state == RUNNING and job.deadline <= now]
                for job in expired:
                    job.state = TIMED_OUT
                    runner.running.discard(job)
            for job in expired:
                self.metrics.inc("jobpipe_worker_jobs_active", -1, pipeline=runner.name)
                job.ctx.cancelled.set()
                ms = self.settings.job_timeout_ms
                job.ctx.logger.warn("job timed out; its thread is abandoned and its late outcome will be dropped", timeoutMs=ms)
                error = cancelled_error(job.batch) if job.cancel_requested else error_of("TimeoutError", f"handler ran longer than {ms} ms")
                self._finish(runner, job, job.result(float(ms), False, error=error))
                runner.lane.completed(1, now)
                # The stuck thread keeps running the handler; a new one takes its slot.
                self._start_thread(runner)

    def _flush_results(self):
        if self.results_watch.refused:
            # Kept until the sink admits this worker: sent now, they would queue on a connection
            # whose next refusal drops them.
            self._want_push_writable(False)
            return
        for pipeline, box in self.outbox.items():
            if not box:
                continue
            frames, replaced = pack_results(pipeline, self.worker_id, [result for result, _ in box], self.limit)
            if replaced:
                self.logger.warn("results too large for a message were sent as ResultTooLarge failures", pipeline=pipeline, results=replaced)
            sent = 0
            for frame, count in frames:
                try:
                    self.push.send(frame, zmq.NOBLOCK)
                except zmq.Again:
                    break  # the sink is slow or away: keep the rest, retry when it can take more
                for _, job in box[sent : sent + count]:
                    if job is not None:
                        runner = self.runners[pipeline]
                        runner.lane.on_done(job.share)
                sent += count
            del box[:sent]
            if pipeline in self.runners:
                self.metrics.set("jobpipe_worker_jobs_held", self.runners[pipeline].lane.held, pipeline=pipeline)
        self._want_push_writable(any(self.outbox.values()))

    def _want_push_writable(self, waiting):
        if waiting != self.push_waiting:
            self.push_waiting = waiting
            if waiting:
                self.poller.register(self.push, zmq.POLLOUT)
            else:
                self.poller.unregister(self.push)

    def _send_credit_or_drain(self, now):
        beat_due = self.last_beat is None or now - self.last_beat >= self.heartbeat
        if self.draining:
            if beat_due:
                self._send_drain(now)
            return
        lanes = self.runners.values()
        # One Credit per turn at most, for every completion of the turn: coalesced, and prompt.
        if beat_due or self.credit_unsent or any(runner.lane.wants_grant() for runner in lanes):
            for runner in lanes:
                if beat_due:
                    runner.lane.take_back()  # idle since the last heartbeat: the credit granted while busy goes
                runner.lane.grant()
            credit = {"worker": self.worker_id, "pipelines": {runner.name: runner.lane.credit() for runner in lanes}}
            # A Credit that cannot leave is sent again SEND_RETRY_S later (_poll_ms): its grant is
            # already counted, so waiting for the heartbeat would leave the lanes dry until then.
            self.credit_unsent = not self._send_dealer(encode_body(2, "Credit", credit))
            if not self.credit_unsent:
                self.last_beat = now

    def _send_drain(self, now):
        if self._send_dealer(encode_body(1, "Drain", {"worker": self.worker_id, "received": self.received})):
            self.last_beat = now

    def _send_dealer(self, frame):
        """Sends without blocking the I/O thread; False when the ventilator cannot take it now (not
        connected, or its pipe is full): counts are cumulative, so the next one says it all."""
        try:
            self.dealer.send(frame, zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    # ---- drain (PROTOCOL.md section 5) --------------------------------------------------------

    def _start_drain(self):
        self.draining = True
        self.ready = False
        self.drain_started = time.monotonic()
        self.logger.info("draining", received=self.received)
        self._send_drain(self.drain_started)

    def _drain_finished(self, now):
        if not self.drain_wait_over:
            # Every job the ventilator sent before its Drained arrives before it; give up waiting
            # after 3 heartbeat intervals (a lost Jobs message, a ventilator gone).
            arrived = self.drained_sent is not None and self.received >= self.drained_sent
            if arrived or now - self.drain_started >= 3 * self.heartbeat:
                self.drain_wait_over = True
                if not arrived:
                    self.logger.warn("drain: stopped waiting for jobs on their way", received=self.received, sent=self.drained_sent)
        if self.drain_wait_over and not self.holds_anything():
            self.logger.info("worker drained", received=self.received)
            return True
        if now - self.drain_started >= self.settings.drain_timeout_ms / 1000:
            waiting = sum(len(runner.waiting) for runner in self.runners.values())
            active = sum(len(runner.running) for runner in self.runners.values())  # a glance; threads may move on
            self.logger.warn("drain timed out; unfinished jobs come back through their leases", waiting=waiting, active=active)
            return True
        return False


def cancelled_error(batch):
    return error_of("Cancelled", f"cancelled: job of batch {batch} was cancelled", retryable=False)


def routing_id(worker_id, pid=None):
    """`<workerId>-<pid>-<random>` (PROTOCOL.md section 1), cut to ZeroMQ's 255 bytes."""
    pid = os.getpid() if pid is None else pid
    tail = f"-{pid}-{secrets.token_hex(4)}".encode("ascii")
    head = worker_id.encode("utf-8")[: 255 - len(tail)]
    head = head.decode("utf-8", "ignore").encode("utf-8")  # do not end inside a character
    ident = head + tail
    return b"w" + ident[1:] if ident[:1] == b"\0" else ident


def install_signal_handlers(worker):
    def on_signal(_signum, _frame):
        worker.stop()  # no logging here: the handler may interrupt a log write holding its lock

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
