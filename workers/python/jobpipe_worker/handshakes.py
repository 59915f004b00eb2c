"""Handshake refusals (PROTOCOL.md section 1, "CURVE: keys, refusals and retries").

libzmq never reconnects a socket whose handshake the server refused (a CURVE key not on its
allow-list, or the other mechanism), so a worker started before its key was allowed would stay
connected to nothing. Each socket is watched through its monitor: a refusal is logged and the
socket reconnected after a backoff, until the server admits it.

libzmq also gives up, for good, a connection that the connecting socket cut itself after its
handshake (a message above its ZMQ_MAXMSGSIZE): a watch given an `abandoned_cause` connects
again when a disconnect is followed by no attempt of libzmq's within ABANDONED_AFTER_S
(PROTOCOL.md section 1, "Recommended socket options").
"""
import errno
import struct
import time

import zmq

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0
LOG_EVERY_S = 60.0  # one line a minute per socket while refusals (or failures) go on
ABANDONED_AFTER_S = 3.0  # a disconnect with no attempt of libzmq's for this long is given up

# libzmq connecting, or scheduling a retry: the connection is not given up.
LIBZMQ_ACTS = (zmq.EVENT_CONNECTED, zmq.EVENT_CONNECT_DELAYED, zmq.EVENT_CONNECT_RETRIED)
WATCHED_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_DISCONNECTED
for _event in LIBZMQ_ACTS:
    WATCHED_EVENTS |= _event

REFUSED_MESSAGE = "the server refused this worker's handshake; retrying"
FAILED_MESSAGE_CURVE = "handshake with the server failed; is JOBPIPE_CURVE_SERVER_KEY the servers' public key?"
FAILED_MESSAGE = "handshake with the server failed"
ABANDONED_MESSAGE = "the connection was cut and libzmq does not connect again ({cause}); connecting again"

PROTOCOL_ERRORS = {getattr(zmq, name): name[len("PROTOCOL_ERROR_") :] for name in dir(zmq) if name.startswith("PROTOCOL_ERROR_")}


def refusal_reason(event, value):
    """Why the server refused the handshake, or None for a failure libzmq retries by itself."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return "unknown_key"  # the ZAP handler said no (status 400)
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "wrong_mechanism"  # CURVE against NULL, or NULL against CURVE
    return None


def describe_failure(event, value):
    """A failure's error in a word: an errno name (EPIPE) or a protocol error (ZMTP_CRYPTOGRAPHIC)."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return PROTOCOL_ERRORS.get(value, f"protocol error {value}")
    return errno.errorcode.get(value, f"error {value}")


def parse_event(frames):
    """(event, value) of a monitor message, or None for one that is not [6 bytes, endpoint]."""
    if len(frames) != 2 or len(frames[0]) != 6:
        return None
    return struct.unpack("=HI", frames[0])


class HandshakeWatch:
    """One socket's handshakes: refusals are retried with backoff, other failures are logged.

    `refused` is true from a refusal until the next successful handshake: while it is, what
    would be sent on the socket is better kept (a fresh connection's queue dies with its next
    refusal)."""

    def __init__(self, sock, endpoint, socket_name, public_key, logger, clock=time.monotonic, abandoned_cause=None):
        self.sock = sock
        self.endpoint = endpoint
        self.socket_name = socket_name
        self.public_key = public_key  # Z85, or None without CURVE
        self.logger = logger
        self.clock = clock
        self.monitor = None
        self.refusals = 0  # refused handshakes since the last admission
        self.delay = 0.0
        self.retry_at = None
        self.refusal_logged_at = None
        self.failure_logged_at = None
        # Why libzmq may have given a connection up, in the error line; None: not watched.
        self.abandoned_cause = abandoned_cause
        self.established = False  # a handshake succeeded and no disconnect followed
        self.reconnect_at = None  # when a given-up connection is connected again
        self.abandoned_logged_at = None

    @property
    def refused(self):
        return self.refusals > 0

    # ---- the socket ---------------------------------------------------------------------------

    def start(self):
        """Opens the monitor; before connect(), so the first handshake is seen."""
        self.monitor = self.sock.get_monitor_socket(WATCHED_EVENTS)
        return self.monitor

    def stop(self):
        if self.monitor is None:
            return
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(linger=0)
        self.monitor = None

    def read_events(self):
        """Handles whatever the monitor has to say (called when it is readable)."""
        while True:
            try:
                frames = self.monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            parsed = parse_event(frames)
            if parsed is not None:
                self.on_event(*parsed)

    def retry_in(self, now):
        """Seconds until the next reconnection, or None when none is due."""
        due = [at for at in (self.retry_at, self.reconnect_at) if at is not None]
        return max(0.0, min(due) - now) if due else None

    def retry_if_due(self, now):
        if self.reconnect_at is not None and now >= self.reconnect_at:
            self.reconnect_at = None
            if self.abandoned_logged_at is None or now - self.abandoned_logged_at >= LOG_EVERY_S:
                self.abandoned_logged_at = now
                self.logger.error(ABANDONED_MESSAGE.format(cause=self.abandoned_cause), socket=self.socket_name, endpoint=self.endpoint)
            self._connect_again()
        if self.retry_at is None or now < self.retry_at:
            return
        self.retry_at = None
        self._connect_again()

    def _connect_again(self):
        try:
            self.sock.disconnect(self.endpoint)
        except zmq.ZMQError:
            pass  # libzmq already forgot the connection: connect() is all it takes
        # A fresh connection makes a fresh handshake; libzmq would never try again by itself.
        self.sock.connect(self.endpoint)

    # ---- events -------------------------------------------------------------------------------

    def on_event(self, event, value):
        now = self.clock()
        if event in LIBZMQ_ACTS:
            self.reconnect_at = None
            return
        if event == zmq.EVENT_DISCONNECTED:
            # Only a connection whose handshake succeeded: a refused one has its backoff above.
            if self.established and self.abandoned_cause is not None:
                self.reconnect_at = now + ABANDONED_AFTER_S
            self.established = False
            return
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.established = True
            self.reconnect_at = None
            self._on_admitted()
            return
        reason = refusal_reason(event, value)
        if reason is not None:
            self._on_refused(reason, now)
        elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
            self._on_failed(event, value, now)

    def _on_refused(self, reason, now):
        if self.retry_at is not None:
            return  # a retry is already on its way: this refusal is the same one
        self.refusals += 1
        self.delay = FIRST_RETRY_S if self.refusals == 1 else min(MAX_RETRY_S, self.delay * 2)
        self.retry_at = now + self.delay
        if self.refusal_logged_at is None or now - self.refusal_logged_at >= LOG_EVERY_S:
            self.refusal_logged_at = now
            self.logger.error(
                REFUSED_MESSAGE,
                socket=self.socket_name,
                endpoint=self.endpoint,
                publicKey=self.public_key or "(none)",
                reason=reason,
                delayMs=round(self.delay * 1000),
                refusals=self.refusals,
            )

    def _on_admitted(self):
        if self.refusals:
            self.logger.info(f"admitted by the server after {self.refusals} refused handshakes", socket=self.socket_name, endpoint=self.endpoint, refusals=self.refusals)
        self.refusals = 0
        self.delay = 0.0
        self.retry_at = None
        self.refusal_logged_at = None

    def _on_failed(self, event, value, now):
        # libzmq reconnects by itself after these: only say so, now and then.
        if self.failure_logged_at is not None and now - self.failure_logged_at < LOG_EVERY_S:
            return
        self.failure_logged_at = now
        fields = {"socket": self.socket_name, "endpoint": self.endpoint, "error": describe_failure(event, value)}
        if self.public_key:
            self.logger.warn(FAILED_MESSAGE_CURVE, publicKey=self.public_key, **fields)
        else:
            self.logger.warn(FAILED_MESSAGE, **fields)
