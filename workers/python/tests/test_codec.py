"""The codec against every vector of libs/protocol/vectors (PROTOCOL.md section 9)."""
import json
import os
import unittest

from helpers import PROTOCOL_DIR

from jobpipe_worker.codec import DecodeError, decode, encode
from jobpipe_worker.schema import BODY_SCHEMAS, BODY_SCHEMAS_V2


def load(name):
    with open(os.path.join(PROTOCOL_DIR, "vectors", name), encoding="utf-8") as file:
        return json.load(file)


class ValidVectors(unittest.TestCase):
    def test_every_valid_vector_decodes_to_its_message(self):
        vectors = load("valid.json")
        self.assertGreater(len(vectors), 30)
        for vector in vectors:
            with self.subTest(vector["name"]):
                self.assertEqual(decode(bytes.fromhex(vector["hex"])), vector["message"])

    def test_encoded_messages_decode_to_the_same_message(self):
        for vector in load("valid.json"):
            if vector.get("decodeOnly"):
                continue
            with self.subTest(vector["name"]):
                frame = encode(vector["message"])
                self.assertEqual(decode(frame), vector["message"])
                # Compact JSON in the vector's key order is what the TypeScript encoder writes too.
                self.assertEqual(frame.hex(), vector["hex"])


class MalformedVectors(unittest.TestCase):
    def test_every_malformed_vector_fails_with_its_reason(self):
        vectors = load("malformed.json")
        self.assertGreater(len(vectors), 80)
        for vector in vectors:
            with self.subTest(vector["name"]):
                options = {}
                if "maxBytes" in vector:
                    options["max_bytes"] = vector["maxBytes"]
                if "accept" in vector:
                    options["accept"] = vector["accept"]
                with self.assertRaises(DecodeError) as caught:
                    decode(bytes.fromhex(vector["hex"]), **options)
                self.assertEqual(caught.exception.reason, vector["reason"], caught.exception.detail)


class Strictness(unittest.TestCase):
    def check(self, body, reason, head=b"\x01\x05"):
        with self.assertRaises(DecodeError) as caught:
            decode(head + body)
        self.assertEqual(caught.exception.reason, reason)

    def test_not_json_spellings(self):
        self.check(b'{"sent":Infinity}', "bad_json")
        self.check(b'{"sent":-Infinity}', "bad_json")
        self.check(b'{"sent":NaN}', "bad_json")
        self.check(b"\xef\xbb\xbf{}", "bad_json")

    def test_booleans_are_not_counts(self):
        self.check(b'{"sent":true}', "bad_fields")

    def test_lone_surrogate_round_trips(self):
        message = {"type": "Drain", "worker": "w\ud800", "received": 1}
        self.assertEqual(decode(encode(message)), message)

    def test_version_2_pipeline_names_count_utf16_units(self):
        lanes = {"\U0001f600" * 100: {"granted": 1, "received": 0}}
        message = {"type": "Credit", "version": 2, "worker": "w", "pipelines": lanes}
        self.assertEqual(decode(encode(message)), message)
        lanes = {"\U0001f600" * 100 + "x": {"granted": 1, "received": 0}}
        with self.assertRaises(DecodeError):
            decode(encode({"type": "Credit", "version": 2, "worker": "w", "pipelines": lanes}))


class SchemasMatchTheRepository(unittest.TestCase):
    """The package carries the schemas in Python; they must equal libs/protocol/schema/*.json."""

    def test_each_schema_equals_its_file(self):
        folder = os.path.join(PROTOCOL_DIR, "schema")
        files = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
        self.assertIn("Credit.v2.json", files)
        for name in files:
            with self.subTest(name):
                with open(os.path.join(folder, name), encoding="utf-8") as file:
                    schema = json.load(file)
                for key in ("$schema", "title", "description"):
                    schema.pop(key, None)
                type_name = name[: -len(".json")]
                ours = BODY_SCHEMAS_V2[type_name[: -len(".v2")]] if type_name.endswith(".v2") else BODY_SCHEMAS[type_name]
                self.assertEqual(ours, schema)


if __name__ == "__main__":
    unittest.main()
