"""Redaction under hostile input: every secret form is still masked wherever it sits in random text, and no
input makes scrub take more than linear time (it runs on every alert and every log line). Pure."""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared import redact
from shared.redact import MASK, scrub, scrub_head
from tests.support.hang import hang_guard

VALUE_CHARS = string.ascii_letters + string.digits + "+/=_.-~"  # what a key, password or SAS signature is made of
TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/"  # a bearer token (RFC 6750 b64token)


@contextlib.contextmanager
def registered(secret: str):
    """register_secret for one example only: the registry is process-wide."""
    with redact._known_lock:
        had = secret in redact._known
        redact._known.add(secret)
    try:
        yield
    finally:
        if not had:
            with redact._known_lock:
                redact._known.discard(secret)


FORMS = {
    "password=": lambda s: ("password=", s, ";"),
    "AccountKey=": lambda s: ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=", s, ";EndpointSuffix=x"),
    "sig=": lambda s: ("https://a.blob.core.windows.net/c?sv=2022&sig=", s, "&se=2026"),
    "token: ": lambda s: ("token: ", s, " "),
    "Bearer": lambda s: ("Authorization: Bearer ", s, ""),
    "token: Bearer": lambda s: ("token: Bearer ", s, ""),  # the name=value net must not hide the bearer token
    "url": lambda s: ("rediss://default:", s, "@cache.redis.cache.windows.net:6380"),
    "registered": lambda s: ("key ", s, " in use"),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=st.sampled_from(sorted(FORMS)), prefix=st.text(max_size=60), suffix=st.text(max_size=60),
       value=st.text(alphabet=VALUE_CHARS, min_size=10, max_size=64),
       token=st.text(alphabet=TOKEN_CHARS, min_size=16, max_size=64))
def test_scrub_masks_every_secret_form_wherever_it_sits_in_random_text(form, prefix, suffix, value, token):
    secret = token if "Bearer" in form else value.replace("@", "").replace("/", "") if form == "url" else value
    before, _, after = FORMS[form](secret)
    text = f"{prefix}{before}{secret}{after}{suffix}"
    # the secret must not also appear by chance in the text around it (that copy is not a secret)
    assume(secret not in f"{prefix}{before}{MASK}{after}{suffix}")
    with registered(secret) if form == "registered" else contextlib.nullcontext():
        scrubbed = scrub(text)
    assert secret not in scrubbed, (text, scrubbed)
    assert MASK in scrubbed


N = 900 * 1024  # a run as long as a body under the 1 MiB limit can carry

HOSTILE = {
    "letters": "a" * N,
    "digits": "7" * N,
    "letters and digits": "a1" * (N // 2),
    "scheme-like runs": "ab+c.d-" * (N // 7),
    "'://' with no credentials": "a://" * (N // 4),
    "'://' then a long user": "a://" + "u" * N,
    "'://u:' then a long password": "a://u:" + "p" * N,
    "a secret name then spaces": "password" + " " * N,
    "secret names repeated": "pwd" * (N // 3),
    "'name=' repeated": "token=" * (N // 6),
    "Bearer then spaces": "Bearer" + " " * N,
    "Bearer repeated": "Bearer " * (N // 7),
    "a short bearer token repeated": "Bearer abc " * (N // 11),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_scrub_of_a_hostile_run_comes_back(kind):
    """Was quadratic on runs of letters or digits (20,000 letters took seconds, 900 KiB never came back)."""
    with hang_guard(10, f"scrub of {kind}"):
        scrubbed = scrub(HOSTILE[kind])
    assert len(scrubbed) <= len(HOSTILE[kind])


def test_scrub_with_registered_secrets_of_a_hostile_run_comes_back():
    with registered("Zm9vYmFyYmF6cXV4-registered"), hang_guard(10, "scrub with a registered secret"):
        assert scrub("a" * N + "Zm9vYmFyYmF6cXV4-registered") == "a" * N + MASK


@pytest.mark.parametrize(("text", "secret"), [
    ("x" * 95 + "Zm9vYmFyYmF6cXV4-straddles", "Zm9vYmFyYmF6cXV4-straddles"),
    ("x" * 70 + "redis://default:c2VjcmV0LXBhc3N3b3JkLXN0cmFkZGxlcw@cache:6380",
     "c2VjcmV0LXBhc3N3b3JkLXN0cmFkZGxlcw"),
    ("x" * 88 + "password=c2VjcmV0LXBhc3N3b3Jk", "c2VjcmV0LXBhc3N3b3Jk"),
])
def test_a_scrubbed_head_never_keeps_part_of_a_secret_cut_at_the_limit(text, secret):
    with registered("Zm9vYmFyYmF6cXV4-straddles"):
        head = scrub_head(text, 100)
    assert len(head) <= 100
    assert not any(secret[:n] in head for n in range(4, len(secret) + 1)), head
    assert head.startswith("x" * 70)


def test_a_scrubbed_head_of_a_hostile_run_is_bounded_and_comes_back():
    with hang_guard(10, "scrub_head of 900 KiB"):
        assert scrub_head("a" * N, 8_000) == "a" * 8_000


def test_redact_of_a_payload_with_hostile_keys_and_values_comes_back():
    payload = {"k" * N: "v", "nested": [{"description": "a" * N}], "password" + " " * 1000: "x"}
    with hang_guard(10, "redact of a hostile payload"):
        redacted = redact.redact(payload)
    assert redacted["nested"][0]["description"] == "a" * N


def test_the_capped_raw_payload_of_a_hostile_alert_comes_back_bounded_and_valid():
    import json

    with hang_guard(10, "capped_json of a hostile payload"):
        text = redact.capped_json({"description": "a" * N, "note": "password=hunter2hunter2"}, 16_000)
    assert len(text) <= 16_000 and json.loads(text)["truncated"] is True
    assert "hunter2hunter2" not in text
