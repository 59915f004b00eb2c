"""Frames of PROTOCOL.md section 2: [version byte][type byte][UTF-8 JSON object].

`decode` runs the checks of section 6 in their order and raises DecodeError with the first
failing reason; `encode` writes compact JSON as the TypeScript encoder does.
"""
import json

from .schema import BODY_SCHEMAS, BODY_SCHEMAS_V2, errors, utf16_length

DEFAULT_MAX_BYTES = 4 * 1024 * 1024

TYPE_CODES = {
    "Jobs": 0x01,
    "Results": 0x02,
    "Credit": 0x03,
    "Drain": 0x04,
    "Drained": 0x05,
    "BatchStart": 0x06,
    "BatchEnd": 0x07,
    "Cancel": 0x08,
    "BatchProgress": 0x10,
    "BatchCompleted": 0x11,
    "Recorded": 0x12,
}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}

# Versions are per message type (section 8): every type has version 1, only Credit has version 2.
SCHEMAS_BY_VERSION = {1: BODY_SCHEMAS, 2: BODY_SCHEMAS_V2}


class DecodeError(Exception):
    """A frame a receiver drops; `reason` is the label of jobpipe_malformed_messages_total."""

    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _reject_constant(name):
    # Python's json accepts NaN, Infinity and -Infinity; JSON does not.
    raise ValueError(f"{name} is not JSON")


def parse_json(data):
    """Strict RFC 8259 parse of UTF-8 bytes (no BOM, no NaN/Infinity); raises ValueError."""
    text = data.decode("utf-8")  # strict: rejects overlong forms, encoded surrogates, truncation
    return json.loads(text, parse_constant=_reject_constant)


def decode(frame, max_bytes=DEFAULT_MAX_BYTES, accept=None):
    """Decodes one frame to a dict: the body's fields plus "type" (and "version" when not 1)."""
    frame = bytes(frame)
    if len(frame) < 4:
        raise DecodeError("too_short", f"{len(frame)} bytes, a frame has at least 4")
    if len(frame) > max_bytes:
        raise DecodeError("too_large", f"{len(frame)} bytes, the limit is {max_bytes}")
    version, code = frame[0], frame[1]
    if version not in SCHEMAS_BY_VERSION:
        raise DecodeError("unknown_version", f"version {version} is not 1 or 2")
    name = TYPE_NAMES.get(code)
    if name is None:
        raise DecodeError("unknown_type", f"type code 0x{code:02x} is not in the protocol")
    if accept is not None and name not in accept:
        raise DecodeError("unexpected_type", f"{name} is not accepted here")
    schema = SCHEMAS_BY_VERSION[version].get(name)
    if schema is None:
        raise DecodeError("unknown_version", f"{name} has no version {version}")
    try:
        body = parse_json(frame[2:])
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise DecodeError("bad_json", str(error)[:200]) from None
    if not isinstance(body, dict):
        raise DecodeError("bad_json", f"the body is a {type(body).__name__}, not an object")
    problem = errors(body, schema)
    if problem is None and version == 2 and name == "Credit":
        # Pipeline names are ids; the schema cannot say so of keys (section 6, check 7).
        for pipeline in body["pipelines"]:
            if not 1 <= utf16_length(pipeline) <= 200:
                problem = "$.pipelines: a pipeline name is not 1 to 200 code units"
                break
    if problem is None and name == "Results":
        # A handler span's ids are in its result's traceparent (section 6, check 8).
        for i, result in enumerate(body["results"]):
            if "handlerSpan" in result and "traceparent" not in result:
                problem = f"$.results[{i}].handlerSpan: a handler span needs the result's traceparent"
                break
    if problem is not None:
        raise DecodeError("bad_fields", problem)
    # The header decides type and version: body fields of those names are ignored extras.
    body.pop("version", None)
    body["type"] = name
    if version != 1:
        body["version"] = version
    return body


def _dumps(body):
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (allowed as "\ud800" in JSON) has no UTF-8 form: escape everything.
        return json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def encode(message):
    """Encodes a dict with "type" (and optional "version") and the body's fields as one frame."""
    body = {key: value for key, value in message.items() if key not in ("type", "version")}
    version = message.get("version", 1)
    return bytes([version, TYPE_CODES[message["type"]]]) + _dumps(body)


def encode_body(version, type_name, body):
    """Like encode, from a body dict that holds no "type" key (saves a copy on the hot path)."""
    return bytes([version, TYPE_CODES[type_name]]) + _dumps(body)
