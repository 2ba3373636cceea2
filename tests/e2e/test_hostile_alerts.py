"""Huge alerts through the intake handler, on real Azurite: each is answered (recorded, its fields capped with a
marker), the app keeps answering others meanwhile, and a huge alert delivered twice is still one incident."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from shared.decide.events import MAX_TARGETS
from shared.decide.payloads import MAX_BODY_BYTES
from local.alerts import metric_alert
from tests.support.hang import hang_guard

APP = "augeo-production-api"
MARKER = re.compile(r"…\[\+([\d,]+) chars, sha256:[0-9a-f]{12}\]$")


def huge_alert(site_id: str, **essentials) -> bytes:
    payload = metric_alert(site_id)
    payload["data"]["essentials"].update(essentials)
    body = json.dumps(payload).encode()
    assert len(body) <= MAX_BODY_BYTES  # under the limit: the app must take it, not refuse it as too large
    return body


async def test_a_900_kib_alert_of_letters_is_answered_and_the_app_answers_others_meanwhile(app, emulator):
    """Redaction was quadratic on a run of letters: 900 KiB in `description` never came back, and the one event
    loop (verifications, lease heartbeats, every other request) stopped with it."""
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    body = huge_alert(site.id, description="a" * (900 * 1024))
    with hang_guard(10, "the 900 KiB alert"):
        intake = asyncio.create_task(app.post_alert(body))
        await asyncio.sleep(0)  # the intake starts and runs until it first waits for storage
        status, document = await app.call("openapi_document", "GET", "/api/openapi.json")
        answered_meanwhile = not intake.done()
        intake_status, answer = await asyncio.wait_for(intake, 10)
    assert status == 200 and document["openapi"].startswith("3.")
    assert answered_meanwhile  # the small request did not wait for the huge one to finish
    assert intake_status == 202, answer
    incident = await app.incident(answer["incident_id"])
    assert MARKER.search(incident["event"]["description"])


@pytest.mark.parametrize("field", ["alertRule", "alertId", "description"])
async def test_an_alert_with_a_900_kib_field_is_recorded_capped_not_refused_as_storage_unavailable(app, emulator,
                                                                                                   field):
    """Table Storage refuses a string property over 64 KiB: that 400 became a 503 'retry later', Azure Monitor
    retried, and the alert was lost."""
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    value = "/subscriptions/x/" + "r" * (900 * 1024)
    with hang_guard(10, f"an alert with a 900 KiB {field}"):
        status, answer = await app.post_alert(huge_alert(site.id, **{field: value}))
    assert status == 202, answer
    event = (await app.incident(answer["incident_id"]))["event"]
    kept = event[{"alertRule": "rule_name", "alertId": "alert_id", "description": "description"}[field]]
    assert kept.startswith("/subscriptions/x/rrr") and MARKER.search(kept)


async def test_a_200_kib_description_and_10000_targets_make_one_incident_with_the_caps_noted(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    targets = [site.id] + [f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/a{n}"
                           for n in range(9_999)]
    body = huge_alert(site.id, description="d" * (200 * 1024), alertTargetIDs=targets)

    with hang_guard(10, "the alert with 10,000 targets"):
        status, first = await app.post_alert(body)
        again_status, again = await app.post_alert(body)  # Azure Monitor retries the same delivery

    assert status == 202, first
    assert (again_status, again["incident_id"], again["duplicate"]) == (200, first["incident_id"], True)
    incident = await app.incident(first["incident_id"])
    event = incident["event"]
    cut = MARKER.search(event["description"])
    assert cut and event["description"].startswith("ddd")
    assert len(event["description"]) - len(cut.group(0)) + int(cut.group(1).replace(",", "")) == 200 * 1024
    assert event["targets_total"] == 10_000 and len(event["target_ids"]) == MAX_TARGETS
    assert event["target_ids"][0] == site.id and incident["plan"]["steps"][0]["target"] == site.id
    status, page = await app.list_incidents()
    assert [item["id"] for item in page["items"]] == [first["incident_id"]]
