"""The Teams Workflows and Slack webhook receivers answer as the real ones do, driven with httpx.AsyncClient as
the app will post to them: Teams' 202 with an empty body and its refusals, Slack's plain-text answers, their
rate limits on the emulator's clock, faults (fail N times, hang with or without delivering) and what each
recorded, so a test of the app can count retries and deliveries."""

from __future__ import annotations

import ssl
from datetime import datetime, timezone

import httpx
import pytest

from local.emulator import Emulator, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc))


@pytest.fixture
def emulator(clock):
    with Emulator(clock=clock) as emu:
        yield emu


@pytest.fixture
async def http(emulator):
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=emulator.ca_path), timeout=5) as client:
        yield client


def card(*body: dict, version: str = "1.4") -> dict:
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": version, "body": list(body) or [{"type": "TextBlock", "text": "Rollback complete"}],
                    "actions": [{"type": "Action.OpenUrl", "title": "Incident", "url": "https://example.com/i/1"}]}}]}


NOTICE = card({"type": "TextBlock", "text": "Rollback complete", "weight": "Bolder"},
              {"type": "FactSet", "facts": [{"title": "Component", "value": "backend"},
                                            {"title": "Status", "value": "resolved"}]})
SLACK = {"text": "Rollback complete: backend v1.2.3 -> v1.2.2",
         "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Rollback complete"}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": "*Component:* backend"}},
                    {"type": "divider"},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "inc-20261201-a1"}]}]}


# ----- Teams Workflows ------------------------------------------------------------------------------------
async def test_teams_accepts_an_adaptive_card_with_202_and_an_empty_body(emulator, http):
    url = emulator.teams.add_webhook("incidents")
    assert "/powerautomate/automations/direct/workflows/" in url and "sig=" in url
    response = await http.post(url, json=NOTICE)
    assert response.status_code == 202 and response.content == b""
    assert emulator.teams.delivered("incidents") == [NOTICE]
    (attempt,) = emulator.teams.attempts("incidents")
    assert attempt.answered == 202


@pytest.mark.parametrize(("payload", "why"), [
    ({"@type": "MessageCard", "@context": "http://schema.org/extensions", "summary": "x", "text": "x"},
     "type must be 'message'"),  # the retired Office 365 connector format
    ({"text": "Rollback complete"}, "type must be 'message'"),
    ({"type": "message", "attachments": []}, "attachments must be a non-empty array"),
    ({**card(), "attachments": [{**card()["attachments"][0], "contentType": "application/json"}]}, "contentType"),
    (card(version="1.5"), "content.version"),
    (card({"type": "Markdown", "text": "**x**"}), "is not an Adaptive Card element"),
    (card({"type": "FactSet", "facts": [{"title": "Status", "value": 3}]}), "facts"),
])
async def test_teams_refuses_what_is_not_an_adaptive_card_message(emulator, http, payload, why):
    url = emulator.teams.add_webhook("incidents")
    response = await http.post(url, json=payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "TriggerInputSchemaMismatch" and why in error["message"]
    assert emulator.teams.delivered() == []


async def test_teams_refuses_a_body_that_is_not_json(emulator, http):
    url = emulator.teams.add_webhook("incidents")
    for content, kind in ((b"payload=%7B%7D", "application/x-www-form-urlencoded"), (b"{not json", "application/json")):
        response = await http.post(url, content=content, headers={"Content-Type": kind})
        assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidRequestContent"
    assert emulator.teams.delivered() == []


async def test_teams_without_schema_validation_accepts_a_bad_card_and_the_flow_fails_unseen(emulator, http):
    """The flow's default: the trigger answers 202 to any JSON, and the card never reaches the channel."""
    emulator.teams.invalid_card = "drop"
    url = emulator.teams.add_webhook("incidents")
    response = await http.post(url, json={"text": "Rollback complete"})
    assert response.status_code == 202 and response.content == b""
    assert emulator.teams.delivered() == []
    ((payload, why),) = emulator.teams.failed("incidents")
    assert payload == {"text": "Rollback complete"} and "type must be 'message'" in why


async def test_teams_refuses_a_message_over_28_kb(emulator, http):
    url = emulator.teams.add_webhook("incidents")
    big = card(*[{"type": "TextBlock", "text": "x" * 1000} for _ in range(29)])
    response = await http.post(url, json=big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "RequestEntityTooLarge"
    assert (await http.post(url, json=card(*[{"type": "TextBlock", "text": "x" * 1000} for _ in range(26)]))
            ).status_code == 202


async def test_teams_throttles_more_than_four_posts_a_second(emulator, http, clock):
    url = emulator.teams.add_webhook("incidents")
    statuses = [(await http.post(url, json=NOTICE)).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 202, 429]
    throttled = emulator.teams.attempts("incidents")[-1]
    assert throttled.answered == 429
    clock.advance(1.01)
    assert (await http.post(url, json=NOTICE)).status_code == 202
    assert len(emulator.teams.delivered()) == 5


async def test_teams_checks_the_signature_the_workflow_and_the_method(emulator, http):
    url = emulator.teams.add_webhook("incidents")
    unsigned = url.split("&sig=")[0]
    for target, status, code in ((unsigned, 401, "DirectApiAuthorizationRequired"),
                                 (unsigned + "&sig=forged", 401, "DirectApiInvalidAuthorizationSignature"),
                                 (url.replace("/workflows/", "/workflows/0"), 404, "WorkflowNotFound")):
        response = await http.post(target, json=NOTICE)
        assert response.status_code == status and response.json()["error"]["code"] == code
    assert (await http.get(url)).json()["error"]["code"] == "TriggerRequestMethodNotValid"
    assert emulator.teams.delivered() == []


# ----- Slack ----------------------------------------------------------------------------------------------
async def test_slack_answers_a_message_with_ok_in_plain_text(emulator, http):
    url = emulator.slack.add_webhook("#incidents")
    response = await http.post(url, json=SLACK)
    assert response.status_code == 200 and response.text == "ok"
    assert response.headers["Content-Type"].startswith("text/")
    form = await http.post(url, data={"payload": '{"text": "form-encoded works too"}'})
    assert form.status_code == 429  # one message a second: the second, at the same instant, is throttled
    assert emulator.slack.delivered("#incidents") == [SLACK]


@pytest.mark.parametrize(("payload", "status", "error"), [
    (b"not json", 400, "invalid_payload"),
    (b"[1, 2]", 400, "invalid_payload"),
    (b'{"blocks": [{"type": "divider"}]}', 400, "no_text"),
    (b'{"text": "x", "blocks": {"type": "divider"}}', 400, "invalid_blocks_format"),
    (b'{"text": "x", "blocks": [{"type": "banner"}]}', 400, "invalid_blocks"),
    (b'{"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "' + b"y" * 3001 + b'"}}]}',
     400, "invalid_blocks"),
    (b'{"text": "x", "blocks": [' + b",".join([b'{"type": "divider"}'] * 51) + b"]}", 400, "invalid_blocks"),
])
async def test_slack_refuses_a_bad_payload_in_plain_text(emulator, http, payload, status, error):
    url = emulator.slack.add_webhook("#incidents")
    response = await http.post(url, content=payload, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.text) == (status, error)
    assert emulator.slack.delivered() == []


@pytest.mark.parametrize(("state", "status", "error"), [
    ("archived", 410, "channel_is_archived"), ("channel_not_found", 404, "channel_not_found"),
    ("revoked", 403, "invalid_token"),
])
async def test_slack_answers_for_a_channel_or_webhook_that_is_gone(emulator, http, state, status, error):
    url = emulator.slack.add_webhook("#incidents")
    emulator.slack.set_state("#incidents", state)
    response = await http.post(url, json=SLACK)
    assert (response.status_code, response.text) == (status, error)


async def test_slack_refuses_a_wrong_secret_and_an_unknown_webhook(emulator, http):
    url = emulator.slack.add_webhook("#incidents")
    wrong = url.rsplit("/", 1)[0] + "/not-the-secret"
    assert ((await http.post(wrong, json=SLACK)).status_code, (await http.post(wrong, json=SLACK)).text) == \
        (403, "invalid_token")
    unknown = await http.post(f"{emulator.slack.base_url}/services/T0EMULATOR/BNOPE/x", json=SLACK)
    assert (unknown.status_code, unknown.text) == (404, "no_service")
    assert emulator.slack.delivered() == []


async def test_slack_throttles_beyond_one_message_a_second_with_retry_after(emulator, http, clock):
    url = emulator.slack.add_webhook("#incidents")
    assert (await http.post(url, json=SLACK)).status_code == 200
    throttled = await http.post(url, json=SLACK)
    assert (throttled.status_code, throttled.text, throttled.headers["Retry-After"]) == (429, "rate_limited", "1")
    clock.advance(1.01)
    assert (await http.post(url, json=SLACK)).status_code == 200
    assert len(emulator.slack.delivered()) == 2


# ----- faults: what a sender's retries and timeouts meet --------------------------------------------------
@pytest.mark.parametrize("kind", ["teams", "slack"])
async def test_a_receiver_failing_twice_then_answering_delivers_exactly_once(emulator, http, clock, kind):
    receiver = getattr(emulator, kind)
    url = receiver.add_webhook("incidents")
    receiver.fail("incidents", times=2, status=500)
    payload = NOTICE if kind == "teams" else SLACK
    answers = []
    for _ in range(3):  # a sender retrying a 5xx, a second apart
        answers.append((await http.post(url, json=payload)).status_code)
        clock.advance(1.1)
    assert answers == [500, 500, 202 if kind == "teams" else 200]
    assert [a.answered for a in receiver.attempts("incidents")] == answers
    assert receiver.delivered("incidents") == [payload]


async def test_an_injected_failure_has_the_receivers_own_body(emulator, http):
    teams_url, slack_url = emulator.teams.add_webhook("incidents"), emulator.slack.add_webhook("#incidents")
    emulator.teams.fail("incidents", status=503)
    emulator.slack.fail("#incidents", status=500)
    teams = await http.post(teams_url, json=NOTICE)
    assert teams.status_code == 503 and teams.json()["error"]["code"] == "ServiceUnavailable"
    slack = await http.post(slack_url, json=SLACK)
    assert (slack.status_code, slack.text) == (500, "internal_error")


@pytest.mark.parametrize("kind", ["teams", "slack"])
async def test_a_hanging_receiver_is_cut_by_the_senders_timeout_and_delivers_nothing(emulator, http, clock, kind):
    receiver = getattr(emulator, kind)
    url = receiver.add_webhook("incidents")
    receiver.hang("incidents")
    payload = NOTICE if kind == "teams" else SLACK
    with pytest.raises(httpx.ReadTimeout):
        await http.post(url, json=payload, timeout=0.3)
    assert receiver.delivered() == [] and receiver.attempts("incidents")[0].answered is None
    clock.advance(1.1)
    assert (await http.post(url, json=payload)).status_code in (200, 202)  # the next one is answered
    assert receiver.delivered() == [payload]


async def test_a_receiver_that_delivers_and_never_answers_shows_the_duplicate_a_retry_makes(emulator, http, clock):
    url = emulator.teams.add_webhook("incidents")
    emulator.teams.hang("incidents", delivered=True)
    with pytest.raises(httpx.ReadTimeout):
        await http.post(url, json=NOTICE, timeout=0.3)
    assert emulator.teams.delivered() == [NOTICE]  # it reached the channel; only the answer was lost
    clock.advance(1.1)
    assert (await http.post(url, json=NOTICE)).status_code == 202
    assert emulator.teams.delivered() == [NOTICE, NOTICE]


async def test_the_demo_can_read_the_notices_through_the_control_api(emulator, http):
    await http.post(emulator.teams.add_webhook("incidents"), json=NOTICE)
    await http.post(emulator.slack.add_webhook("#incidents"), json=SLACK)
    notices = (await http.get(f"{emulator.arm_url}/_emulator/notices")).json()
    assert notices == {"teams": [NOTICE], "slack": [SLACK]}
