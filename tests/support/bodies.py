"""Request bodies that are not acceptable JSON, whatever their shape: each must be a 400 with a JSON body on every
endpoint that reads JSON (the webhook, the command API, `cli explain`), never a 500."""

from __future__ import annotations

MAX_DEPTH = 64  # shared/payloads.py: alerts are about 10 deep


def nested(depth: int) -> bytes:
    """`depth` levels of objects and arrays, alternating, around one number: valid JSON."""
    return b'{"a":[' * (depth // 2) + (b'{"a":' if depth % 2 else b"") + b"1" + (b"}" if depth % 2 else b"") \
        + b"]}" * (depth // 2)


# name -> (body, what the 400's message must say)
NOT_ACCEPTABLE_JSON = {
    "arrays nested 200,000 deep": (b"[" * 200_000 + b"]" * 200_000, "nested 200000 levels deep"),
    "objects nested 50,000 deep": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested 50000 levels deep"),
    "nested one level past the limit": (nested(MAX_DEPTH + 1), f"the limit is {MAX_DEPTH}"),
    "an integer of 5,000 digits": (b'{"n": ' + b"7" * 5_000 + b"}", "5000 digits"),
    "NaN": (b'{"n": NaN}', "NaN, which is not JSON"),
    "Infinity": (b'{"n": [1, Infinity]}', "Infinity, which is not JSON"),
    "-Infinity": (b'{"n": -Infinity}', "-Infinity, which is not JSON"),
    "a number too large for a float": (b'{"n": 1e400}', "out of range"),
    "a lone UTF-16 surrogate": (b'{"s": "x\\ud800y"}', "lone UTF-16 surrogate"),
    "an unterminated string of 400,000 escaped quotes": (b'{"s": "' + b'\\"' * 400_000, "not JSON"),
}
