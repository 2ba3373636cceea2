"""The tenant's signing keys (shared/entra.py SigningKeys) over real HTTPS from the emulated Entra ID: fetched
once, a failed fetch not repeated by every waiting request, and fetched again once the endpoint is back."""

from __future__ import annotations

import asyncio

import pytest

from shared.adapters.entra import SigningKeys
from shared.errors import RequestRefused

KEYS = r"GET /.*/discovery/v2\.0/keys$"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fetches(emulator) -> int:
    return len(emulator.recorder.matching("GET", r"/discovery/v2\.0/keys$", server="login"))


async def test_a_failed_fetch_is_answered_at_once_for_a_moment_then_tried_again(emulator, issuer):
    clock = Clock()
    keys = SigningKeys(emulator.jwks_url, emulator.ca_path, clock=clock)
    emulator.fault(KEYS, server="login", times=1, drop=True)

    answers = await asyncio.gather(*(keys.key_for(issuer.kid) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(answer, RequestRefused) and answer.status == 503 for answer in answers), answers
    assert "the keys endpoint did not answer" in answers[0].message
    assert fetches(emulator) == 1  # the four waiting behind the failed fetch did not fetch again

    clock.now += 5  # past the hold: the next token asks again, and the endpoint is back
    key = await keys.key_for(issuer.kid)
    assert key.key_id == issuer.kid and fetches(emulator) == 2
    assert (await keys.key_for(issuer.kid)).key_id == issuer.kid and fetches(emulator) == 2


async def test_an_unknown_kid_is_401_and_does_not_refetch_the_keys_each_time(emulator, issuer):
    keys = SigningKeys(emulator.jwks_url, emulator.ca_path)
    await keys.key_for(issuer.kid)
    for _ in range(3):
        with pytest.raises(RequestRefused) as refused:
            await keys.key_for("a-kid-nobody-published")
        assert refused.value.status == 401 and "does not publish" in refused.value.message
    assert fetches(emulator) == 1  # PyJWKClient refetches for an unknown kid at most every 30 s
