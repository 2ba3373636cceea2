"""Every app setting the code reads is in local.settings.example.json, with a description, and no more."""

from __future__ import annotations

import json
from pathlib import Path

from shared.config import _ENV

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "local.settings.example.json").read_text())
PLATFORM = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags"}


def test_every_setting_the_code_reads_is_in_the_example():
    assert set(_ENV.values()) == set(EXAMPLE["Values"]) - PLATFORM


def test_every_example_setting_is_documented_and_holds_no_secret():
    assert set(EXAMPLE["Values"]) == set(EXAMPLE["Documentation"])
    assert all(len(text) > 20 for text in EXAMPLE["Documentation"].values())
    assert "AccountKey" not in json.dumps(EXAMPLE["Values"])
