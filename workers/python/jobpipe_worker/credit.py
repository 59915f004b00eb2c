"""Credit of one lane (a pipeline the worker serves), in jobs and in bytes: PROTOCOL.md sections
4 and 4a, applied to each lane on its own as version 2 says (section 3.3).

Invariants kept here, checked by tests/test_credit.py:
    (granted - received) + held <= window            (unless the ventilator over-sent)
    (granted_bytes - received_bytes) + held_bytes <= byte_window
and neither granted count ever decreases.
"""


class Lane:
    def __init__(self, pipeline, window, byte_window):
        if window < 1 or byte_window < 1:
            raise ValueError("a lane needs a window of at least one job and one byte")
        self.pipeline = pipeline
        self.window = window  # slots + prefetch
        self.byte_window = byte_window
        self.granted = 0
        self.received = 0
        self.held = 0
        self.granted_bytes = 0
        self.received_bytes = 0
        self.held_bytes = 0

    def wants_grant(self):
        """True when granting now would raise a count: there is room under a window."""
        return (self.granted - self.received) + self.held < self.window or (
            self.granted_bytes - self.received_bytes
        ) + self.held_bytes < self.byte_window

    def grant(self):
        """Raises the granted counts to fill both windows (rule 2); never lowers them."""
        self.granted = max(self.granted, self.received + self.window - self.held)
        self.granted_bytes = max(self.granted_bytes, self.received_bytes + self.byte_window - self.held_bytes)

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

    def credit(self):
        """This lane's entry in a version 2 Credit."""
        return {
            "granted": self.granted,
            "received": self.received,
            "grantedBytes": self.granted_bytes,
            "receivedBytes": self.received_bytes,
        }
