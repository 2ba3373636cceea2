"""Request bodies -> JSON: the one decode the webhook, the command API and `cli explain` share. Pure."""

from __future__ import annotations

import json

import pytest

from shared.errors import PayloadError
from shared.decide.payloads import decode_json
from local.alerts import FIXTURES
from tests.support.bodies import MAX_DEPTH, NOT_ACCEPTABLE_JSON, nested
from tests.support.hang import hang_guard


@pytest.mark.parametrize("kind", sorted(NOT_ACCEPTABLE_JSON))
def test_a_body_that_is_not_acceptable_json_is_a_400_that_says_why(kind):
    body, says = NOT_ACCEPTABLE_JSON[kind]
    with pytest.raises(PayloadError) as refused, hang_guard(10, f"decode of {kind}"):
        decode_json(body)
    assert refused.value.status == 400 and refused.value.code == "invalid_json"
    assert says in refused.value.message, refused.value.message


def test_nesting_up_to_the_limit_is_accepted():
    value = decode_json(nested(MAX_DEPTH))
    depth = 0
    while isinstance(value, (dict, list)):
        value, depth = (value["a"] if isinstance(value, dict) else value[0]), depth + 1
    assert depth == MAX_DEPTH and value == 1


@pytest.mark.parametrize("text", [
    '{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
    '{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\"}',
])
def test_brackets_inside_strings_are_not_nesting(text):
    assert decode_json(text.encode())["a"].count("[") > MAX_DEPTH


@pytest.mark.parametrize(("text", "value"), [
    ('{"n": 12345678901234567890}', 12345678901234567890), ('{"n": -1.5e300}', -1.5e300),
    ('{"s": "\\ud83d\\ude00"}', "\U0001F600"), ('\ufeff{"bom": true}', True),
])
def test_ordinary_json_still_decodes(text, value):
    assert next(iter(decode_json(text.encode()).values())) == value


def test_every_published_sample_decodes():
    for path in FIXTURES.glob("*.json"):
        assert decode_json(path.read_bytes()) == json.loads(path.read_text()), path.name


def test_a_body_in_utf16_is_refused_as_not_utf8():
    with pytest.raises(PayloadError) as refused:
        decode_json('{"a": 1}'.encode("utf-16"))
    assert refused.value.status == 400 and "not UTF-8" in refused.value.message


def test_a_wide_shallow_body_decodes_and_comes_back():
    body = b"[" + b"[{}]," * 200_000 + b"[]]"
    with hang_guard(10, "decode of 200,000 shallow arrays"):
        assert len(decode_json(body)) == 200_001
