"""The alert intake with Azure Monitor's Secure Webhook: the action group's token (the AzNS AAD Webhook app,
holding our app role ActionGroupsSecureWebhook), v1 and v2, required by a setting or checked when sent; the
signing keys fetched once, and a key endpoint that is down answered 503 with Retry-After, recording nothing."""

from __future__ import annotations

import pytest

from shared import services
from local.alerts import metric_alert
from tests.support.identity import CLI_APP_ID, new_key

SITE = ("/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/augeo-production-rg/providers/"
        "Microsoft.Web/sites/augeo-production-api")
ROLE = "ActionGroupsSecureWebhook"
KEYS = r"GET /.*/discovery/v2\.0/keys$"


@pytest.fixture
async def require_token(monkeypatch):
    monkeypatch.setenv("RESPONDER_ALERTS_REQUIRE_TOKEN", "true")
    services.forget()


def key_fetches(emulator) -> list:
    return emulator.recorder.matching("GET", r"/discovery/v2\.0/keys$", server="login")


async def recorded(app) -> list[dict]:
    status, page = await app.list_incidents()
    assert status == 200, page
    return page["items"]


@pytest.mark.parametrize("version", ["1.0", "2.0"])
async def test_an_action_groups_token_of_either_version_is_accepted(app, issuer, require_token, version):
    status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers(ROLE, version=version))
    assert status == 202, body
    assert [item["id"] for item in await recorded(app)] == [body["incident_id"]]


@pytest.mark.parametrize(("headers", "status", "says"), [
    (lambda issuer: {}, 401, "no token: this endpoint takes alerts only from an Azure Monitor action group"),
    (lambda issuer: {"Authorization": "Bearer not-a-jwt"}, 401, "not a JSON Web Token"),
    (lambda issuer: {"Authorization": "SharedKey abc"}, 401, "must be 'Bearer <token>'"),
    (lambda issuer: issuer.webhook_headers(ROLE, audience="api://someone-else"), 401, "not for this API"),
    (lambda issuer: issuer.webhook_headers(ROLE, expires_in=-120), 401, "has expired"),
    (lambda issuer: issuer.webhook_headers(ROLE, key=new_key()), 401, "signature is not valid"),
    (lambda issuer: issuer.webhook_headers(), 403, f"lacks the app role {ROLE} (has: none)"),
    (lambda issuer: issuer.webhook_headers("Responder.Operator", version="2.0"), 403,
     f"lacks the app role {ROLE} (has: Responder.Operator)"),
    (lambda issuer: issuer.webhook_headers(ROLE, app_id=CLI_APP_ID), 403,
     f"issued to app {CLI_APP_ID}, not to Azure Monitor's AzNS AAD Webhook"),
    (lambda issuer: issuer.headers(ROLE, "Responder.Operator"), 403, "issued to app"),  # a person's token
])
async def test_when_a_token_is_required_each_refusal_says_why(app, issuer, require_token, headers, status, says):
    answer, body = await app.post_alert(metric_alert(SITE), headers=headers(issuer))
    assert answer == status, body
    assert body["error"] == ("unauthorized" if status == 401 else "forbidden") and says in body["message"], body
    assert await recorded(app) == []


async def test_without_the_setting_a_plain_webhook_passes_but_a_sent_token_is_checked(app, issuer):
    status, body = await app.post_alert(metric_alert(SITE))
    assert status == 202, body
    status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers(ROLE, expires_in=-120))
    assert status == 401 and "has expired" in body["message"]
    status, body = await app.post_alert(metric_alert(SITE), headers={"Authorization": "Bearer garbage"})
    assert status == 401 and body["error"] == "unauthorized"
    status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers())
    assert status == 403 and ROLE in body["message"]
    assert len(await recorded(app)) == 1


@pytest.mark.parametrize("fault", [{"drop": True}, {"status": 503}, {"status": 200, "body": b"<html>busy</html>"}],
                         ids=["dropped", "503", "not-json"])
async def test_a_key_endpoint_that_is_down_is_503_with_retry_after_and_nothing_is_recorded(app, issuer, emulator,
                                                                                          require_token, fault):
    emulator.fault(KEYS, server="login", times=None, **fault)
    response = await app.respond("receive_alert", "POST", "/api/alerts", metric_alert(SITE),
                                 headers=issuer.webhook_headers(ROLE))
    assert response.status_code == 503, response.get_body()
    assert response.headers["Retry-After"].isdigit()  # Azure Monitor retries a 503, never a 500
    assert b'"error":"keys_unavailable"' in response.get_body()
    assert await recorded(app) == []


async def test_the_signing_keys_are_fetched_once_and_outlive_an_outage_of_the_key_endpoint(app, issuer, emulator,
                                                                                          require_token):
    for version in ("1.0", "2.0", "1.0"):
        status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers(ROLE, version=version))
        assert status == 202, body
    assert len(key_fetches(emulator)) == 1
    emulator.fault(KEYS, server="login", times=None, status=503)
    status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers(ROLE))
    assert status == 202, body
    assert len(key_fetches(emulator)) == 1


async def test_the_allowed_sender_apps_are_a_setting(app, issuer, monkeypatch):
    sovereign = "9f2c4e11-2b7a-4a4e-8d0c-1a5e2f3b4c5d"
    monkeypatch.setenv("RESPONDER_ALERTS_REQUIRE_TOKEN", "true")
    monkeypatch.setenv("RESPONDER_ALERTS_TOKEN_APP_IDS", sovereign.upper())
    services.forget()
    status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers(ROLE))
    assert status == 403 and f"not to Azure Monitor's AzNS AAD Webhook ({sovereign})" in body["message"], body
    status, body = await app.post_alert(metric_alert(SITE), headers=issuer.webhook_headers(ROLE, app_id=sovereign))
    assert status == 202, body
