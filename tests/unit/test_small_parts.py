"""Durations, redaction and settings. Pure."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.config import Settings
from shared.decide.durations import format_duration, parse_duration
from shared.errors import ConfigurationError
from shared.redact import MASK, capped_json, install_log_redaction, redact, register_secret, scrub


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800),
                                               ("1h30m", 5400), ("45", 45), (12, 12), ("500ms", 0.5)])
def test_durations_as_people_write_them(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "30 minutes", "m30", "-5", "", "1h30", True])
def test_nonsense_durations_are_refused_with_the_accepted_forms(text):
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert "duration" in str(caught.value)


def test_format_duration_round_trips_whole_units():
    for text in ("30m", "2h", "1d", "45s", "10m1s", "1d2h3m4s", "0.5s"):
        assert format_duration(parse_duration(text)) == text
    assert format_duration(parse_duration("90s")) == "1m30s"


def test_registered_secrets_and_secret_looking_pairs_are_masked():
    register_secret("Zm9vYmFyYmF6cXV4")
    text = scrub("redis://:Zm9vYmFyYmF6cXV4@cache:6380 password=hunter2 AccountKey=abc123== Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.x.y")
    assert "Zm9vYmFyYmF6cXV4" not in text and "hunter2" not in text and "abc123" not in text
    assert "eyJ0eXAi" not in text
    assert text.count(MASK) >= 4
    assert scrub("approved by bob (oid, bearer token)") == "approved by bob (oid, bearer token)"


def test_secret_named_keys_are_masked_in_structures():
    value = redact({"AccessKey": "k1", "nested": [{"clientSecret": "k2", "name": "ok"}], "token": None})
    assert value == {"AccessKey": MASK, "nested": [{"clientSecret": MASK, "name": "ok"}], "token": None}


def test_capped_json_stays_valid_json_when_cut():
    import json

    text = capped_json({"rows": ["x" * 100] * 1000}, 2000)
    assert len(text) <= 2000 and json.loads(text)["truncated"] is True


def test_log_records_are_scrubbed_whatever_the_logger(caplog):
    install_log_redaction()
    register_secret("very-secret-redis-key")
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("connecting with %s", "very-secret-redis-key")
    assert "very-secret-redis-key" not in caplog.text and MASK in caplog.text


def test_settings_name_the_setting_that_is_wrong():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"AzureWebJobsStorage": "x", "RESPONDER_ARM_ENDPOINT": "http://example.com",
                           "RESPONDER_QUEUE": "Bad_Name"})
    message = str(caught.value)
    assert "RESPONDER_ARM_ENDPOINT: Value error, must be an https:// URL" in message
    assert "RESPONDER_QUEUE:" in message


def test_storage_setting_is_required():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({})
    assert "AzureWebJobsStorage: required" in str(caught.value)
    assert "RESPONDER_QUEUE: required" in str(caught.value)


def test_the_emulator_credential_is_refused_outside_loopback():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"AzureWebJobsStorage": "x", "RESPONDER_QUEUE": "runs", "RESPONDER_CREDENTIAL": "emulator"})
    assert "only allowed with a loopback" in str(caught.value)


def test_the_incident_id_is_in_the_text_of_every_log_record_about_it(caplog):
    """The Functions Python worker forwards only a record's message: extra fields never reach App Insights."""
    from shared.redact import about

    install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("responder.x").info("swap requested", extra={"incident_id": "inc-20261201-000000000-abcdef"})
        with about("inc-20261201-000000001-123456"):
            logging.getLogger("azure.core.pipeline").warning("retrying after 503")  # a library's line too
        logging.getLogger("responder.x").info("inc-20261201-000000002-fedcba already named once")
        logging.getLogger("responder.x").info("about nothing in particular")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["[inc-20261201-000000000-abcdef] swap requested",
                        "[inc-20261201-000000001-123456] retrying after 503",
                        "inc-20261201-000000002-fedcba already named once",
                        "about nothing in particular"]
