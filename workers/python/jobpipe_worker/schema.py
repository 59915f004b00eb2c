"""The message body schemas of PROTOCOL.md (libs/protocol/schema/*.json) and a validator for the
small part of JSON Schema (draft-07) they use.

The schemas are written here in Python, in the same shape as the JSON files, so that the package
needs no data files; tests/test_schema.py checks that each one equals its file in the repository.
"""
import math
import re

MAX_COUNT = 9007199254740991  # 2^53 - 1, the largest integer a double holds exactly


def _id():
    return {"minLength": 1, "maxLength": 200, "type": "string"}


def _count():
    return {"minimum": 0, "maximum": MAX_COUNT, "type": "integer"}


def _slots():
    return {"minimum": 1, "maximum": 1000000, "type": "integer"}


def _epoch_ms():
    return {"minimum": 0, "type": "number"}


def _attempt():
    return {"minimum": 1, "maximum": 1000000, "type": "integer"}


TRACEPARENT_PATTERN = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


def _trace_fields():
    """The optional trace context of a job or result (PROTOCOL.md 3.1, "Trace context")."""
    return {"traceparent": {"pattern": TRACEPARENT_PATTERN, "type": "string"}, "tracestate": {"maxLength": 512, "type": "string"}}


def _object(required, properties, **extra):
    schema = {"type": "object", "required": list(required), "properties": properties}
    schema.update(extra)
    return schema


def _result(ok):
    properties = {
        "batch": _id(),
        "seq": _count(),
        "attempt": _attempt(),
        "dispatchedAt": _epoch_ms(),
        "durationMs": {"minimum": 0, "type": "number"},
        **_trace_fields(),
        "handlerSpan": _object(
            ["parentSpanId", "startedAt"],
            {"parentSpanId": {"pattern": "^[0-9a-f]{16}$", "type": "string"}, "startedAt": _epoch_ms()},
        ),
        "ok": {"const": ok, "type": "boolean"},
    }
    if ok:
        properties["value"] = {}
    else:
        properties["error"] = _object(
            ["name", "message"],
            {
                "name": {"maxLength": 200, "type": "string"},
                "message": {"maxLength": 10000, "type": "string"},
                "retryable": {"type": "boolean"},
            },
        )
    return _object(["batch", "seq", "attempt", "dispatchedAt", "durationMs", "ok", "value" if ok else "error"], properties)


# A credit in bytes comes whole: grantedBytes and receivedBytes together or not at all (PROTOCOL.md 4a).
BYTES_TOGETHER = {"grantedBytes": ["receivedBytes"], "receivedBytes": ["grantedBytes"]}


def _lane():
    return _object(
        ["granted", "received"],
        {"granted": _count(), "received": _count(), "grantedBytes": _count(), "receivedBytes": _count(), "slots": _slots()},
        dependencies=BYTES_TOGETHER,
    )


ANY_KEY = "^(.*)$"

# Version 1 bodies, by type name.
BODY_SCHEMAS = {
    "Jobs": _object(
        ["pipeline", "jobs"],
        {
            "pipeline": _id(),
            "jobs": {
                "minItems": 1,
                "type": "array",
                "items": _object(
                    ["batch", "seq", "attempt", "dispatchedAt", "payload"],
                    {"batch": _id(), "seq": _count(), "attempt": _attempt(), "dispatchedAt": _epoch_ms(), "payload": {}, **_trace_fields()},
                ),
            },
        },
    ),
    "Results": _object(
        ["pipeline", "worker", "results"],
        {
            "pipeline": _id(),
            "worker": _id(),
            "results": {"minItems": 1, "type": "array", "items": {"anyOf": [_result(True), _result(False)]}},
        },
    ),
    "Credit": _object(
        ["worker", "granted", "received"],
        {"worker": _id(), "granted": _count(), "received": _count(), "grantedBytes": _count(), "receivedBytes": _count(), "slots": _slots()},
        dependencies=BYTES_TOGETHER,
    ),
    "Drain": _object(["worker", "received"], {"worker": _id(), "received": _count()}),
    "Drained": _object(["sent"], {"sent": _count()}),
    "BatchStart": _object(["batch", "pipeline", "startedAt"], {"batch": _id(), "pipeline": _id(), "startedAt": _epoch_ms()}),
    "BatchEnd": _object(["batch", "pipeline", "jobs"], {"batch": _id(), "pipeline": _id(), "jobs": _count()}),
    "Cancel": _object(
        ["pipeline", "batch"],
        {"pipeline": _id(), "batch": _id(), "seqs": {"minItems": 1, "type": "array", "items": _count()}},
    ),
    "BatchProgress": _object(
        ["batch", "pipeline", "done", "failed", "total"],
        {
            "batch": _id(),
            "pipeline": _id(),
            "done": _count(),
            "failed": _count(),
            "total": {"anyOf": [_count(), {"type": "null"}]},
        },
    ),
    "BatchCompleted": _object(
        ["summary"],
        {
            "summary": _object(
                ["batch", "pipeline", "jobs", "failed", "duplicates", "wallSeconds", "jobsPerSecond", "perWorker", "answer"],
                {
                    "batch": _id(),
                    "pipeline": _id(),
                    "jobs": _count(),
                    "failed": _count(),
                    "duplicates": _count(),
                    "wallSeconds": {"minimum": 0, "type": "number"},
                    "jobsPerSecond": {"minimum": 0, "type": "number"},
                    "perWorker": {"type": "object", "patternProperties": {ANY_KEY: _count()}},
                    "answer": {},
                    "cancelled": _count(),
                },
            )
        },
    ),
    "Recorded": _object(["batch", "seqs"], {"batch": _id(), "seqs": {"minItems": 1, "type": "array", "items": _count()}}),
}

# Version 2 bodies (only Credit has a version 2).
BODY_SCHEMAS_V2 = {
    "Credit": _object(
        ["worker", "pipelines"],
        {
            "worker": _id(),
            "pipelines": {"minProperties": 1, "maxProperties": 64, "type": "object", "patternProperties": {ANY_KEY: _lane()}},
        },
    ),
}


def utf16_length(text):
    """Length in UTF-16 code units, as JavaScript counts (PROTOCOL.md section 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_number(value):
    # bool is an int in Python, never a JSON number; 1e400 parses as inf, which no field accepts.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (not isinstance(value, float) or math.isfinite(value))


def _type_ok(value, kind):
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "number":
        return _is_number(value)
    if kind == "integer":
        return _is_number(value) and (isinstance(value, int) or value.is_integer())
    raise ValueError(f"schema type {kind!r} is not supported")


_PATTERNS = {}


def _pattern(source):
    """A schema pattern compiled once. JSON Schema's `$` (ECMAScript's) ends the string; Python's
    `$` also matches before a final newline, so a trailing `$` becomes `\\Z`."""
    compiled = _PATTERNS.get(source)
    if compiled is None:
        python = source[:-1] + "\\Z" if source.endswith("$") and not source.endswith("\\$") else source
        compiled = _PATTERNS[source] = re.compile(python)
    return compiled


def _same(a, b):
    return type(a) is type(b) and a == b


def errors(value, schema, path="$"):
    """Returns the first problem of `value` against `schema` as a string, or None if it matches."""
    if "anyOf" in schema:
        if not any(errors(value, branch, path) is None for branch in schema["anyOf"]):
            return f"{path}: matches none of the allowed forms"
    kind = schema.get("type")
    if kind is not None and not _type_ok(value, kind):
        return f"{path}: is not of type {kind}"
    if "const" in schema and not _same(value, schema["const"]):
        return f"{path}: must be {schema['const']!r}"
    if isinstance(value, str):
        if "minLength" in schema and utf16_length(value) < schema["minLength"]:
            return f"{path}: shorter than {schema['minLength']}"
        if "maxLength" in schema and utf16_length(value) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']}"
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            return f"{path}: does not match {schema['pattern']}"
    if _is_number(value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: above {schema['maximum']}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{path}: fewer than {schema['minItems']} items"
        if "items" in schema:
            for i, item in enumerate(value):
                problem = errors(item, schema["items"], f"{path}[{i}]")
                if problem:
                    return problem
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{path}: {key} is missing"
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            return f"{path}: fewer than {schema['minProperties']} entries"
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            return f"{path}: more than {schema['maxProperties']} entries"
        for key, needed in schema.get("dependencies", {}).items():
            if key in value:
                for other in needed:
                    if other not in value:
                        return f"{path}: {key} without {other}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problem = errors(value[key], sub, f"{path}.{key}")
                if problem:
                    return problem
        for pattern, sub in schema.get("patternProperties", {}).items():
            for key, item in value.items():
                if re.search(pattern, key):
                    problem = errors(item, sub, f"{path}.{key}")
                    if problem:
                        return problem
    return None
