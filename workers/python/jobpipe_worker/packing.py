"""Packing results into Results frames (PROTOCOL.md 3.2 and section 7): as many per message as
fit, never beyond the message limit; a result that alone does not fit becomes a ResultTooLarge
failure."""
from .codec import encode_body

ERROR_NAME_MAX = 200
ERROR_MESSAGE_MAX = 10_000


def truncate_utf16(text, limit):
    """The longest prefix of `text` of at most `limit` UTF-16 code units (as JavaScript counts),
    without cutting a character outside the BMP in half."""
    if len(text) <= limit // 2:
        return text  # each character is at most 2 units
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:i]
    return text


def error_of(name, message, retryable=True):
    """The wire form of a failure, truncated to the limits of section 7."""
    error = {"name": truncate_utf16(str(name), ERROR_NAME_MAX), "message": truncate_utf16(str(message), ERROR_MESSAGE_MAX)}
    if not retryable:
        error["retryable"] = False  # only false is sent; absent means retry as the pipeline allows
    return error


def too_large(result, size, limit):
    """The failure that replaces a result which alone would make a frame over the limit."""
    replaced = {key: result[key] for key in ("batch", "seq", "attempt", "dispatchedAt", "durationMs")}
    # The trace context goes with the failure too (PROTOCOL.md 3.1, "Trace context").
    replaced.update({key: result[key] for key in ("traceparent", "tracestate", "handlerSpan") if key in result})
    replaced["ok"] = False
    replaced["error"] = error_of("ResultTooLarge", f"the result makes a {size}-byte message, over the {limit}-byte limit")
    return replaced


def pack_results(pipeline, worker, results, limit):
    """Frames holding `results` in order, each at most `limit` bytes.

    Tries all in one frame; a frame over the limit is split in halves, each packed the same way,
    down to single results, which are replaced by ResultTooLarge when still too big. Returns
    (frames, replaced): frames is a list of (frame, number of results in it), in order; replaced
    counts the results turned into ResultTooLarge."""
    frames = []
    replaced = 0

    def pack(part):
        nonlocal replaced
        frame = encode_body(1, "Results", {"pipeline": pipeline, "worker": worker, "results": part})
        if len(frame) <= limit:
            frames.append((frame, len(part)))
        elif len(part) > 1:
            middle = len(part) // 2
            pack(part[:middle])
            pack(part[middle:])
        else:
            replaced += 1
            replacement = {"pipeline": pipeline, "worker": worker, "results": [too_large(part[0], len(frame), limit)]}
            frames.append((encode_body(1, "Results", replacement), 1))

    if results:
        pack(list(results))
    return frames, replaced
