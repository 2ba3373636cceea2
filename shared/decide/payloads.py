"""Request bodies as bytes -> JSON, with the limits and messages every entry point shares (the webhook, the
command API and `cli explain` say the same thing about the same bad input).

Acceptable JSON is stricter than what `json.loads` takes: UTF-8 (RFC 8259 8.1; a BOM is ignored), nested at
most MAX_DEPTH levels (nothing downstream, pydantic or redaction, can then reach Python's recursion limit),
integers of at most MAX_DIGITS digits (Python refuses more than 4,300 anyway, as a ValueError), finite
numbers (no NaN or Infinity, which are not JSON, and no 1e400, which Python reads as Infinity), and text that
is Unicode (no lone UTF-16 surrogate such as `\\ud800`, which decodes into a str that cannot be encoded).
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any, NoReturn

from shared.errors import PayloadError

MAX_BODY_BYTES = 1 << 20  # 1 MiB: Azure Monitor payloads are a few KiB; anything near this is not an alert
MAX_DEPTH = 64  # alerts are about 10 deep
MAX_DIGITS = 100

# A string, or an unterminated one running to the end: every '"' the scan starts at is consumed, so no
# start rescans what another scanned (`"\"\"\"...` with no closing quote would otherwise be quadratic).
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 for an opener, -1 for a closer


def too_large(size: int | str) -> PayloadError:
    return PayloadError(413, "payload_too_large", f"the body is {size} bytes; the limit is {MAX_BODY_BYTES}")


def decode_json(body: bytes) -> Any:
    """The body as JSON, or PayloadError 413 (too big) / 400 (empty, not UTF-8, not acceptable JSON)."""
    if len(body) > MAX_BODY_BYTES:
        raise too_large(len(body))
    if not body.strip():
        raise PayloadError(400, "invalid_json", "the body is empty; send a JSON object")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PayloadError(400, "invalid_json", "the body is not UTF-8 text") from None
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        _refuse(f"the body is nested {depth} levels deep; the limit is {MAX_DEPTH}")
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_finite, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        raise PayloadError(400, "invalid_json", f"the body is not JSON: {error.msg} at line {error.lineno} "
                                                f"column {error.colno}") from None
    if "\\u" in text:  # only an escape can make a surrogate: UTF-8 decoding refuses encoded ones
        _refuse_lone_surrogates(value)
    return value


def nesting_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, strings left out; linear, without recursion."""
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    return max(accumulate(array("b", brackets.encode("ascii").translate(_DEPTH_STEP))), default=0)


def _refuse(message: str) -> NoReturn:
    raise PayloadError(400, "invalid_json", message)


def _integer(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_DIGITS:
        _refuse(f"the body has an integer of {digits} digits; the limit is {MAX_DIGITS}")
    return int(literal)


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        _refuse(f"the body has a number out of range ({literal[:40]}{'...' if len(literal) > 40 else ''})")
    return value


def _not_json(name: str) -> NoReturn:
    _refuse(f"the body has {name}, which is not JSON (RFC 8259 numbers are finite)")


def _refuse_lone_surrogates(value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        surrogate = error.object[error.start:error.end]
        _refuse(f"the body has a lone UTF-16 surrogate (\\u{ord(surrogate[0]):04x}), which is not text")
