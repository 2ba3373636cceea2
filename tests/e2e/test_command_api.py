"""The command API through the local runner, with a real HTTP client: every endpoint's happy path, the
401/403/409/422 answers, approvals (self-approval, expiry, however the requester's id is spelled), v1 and v2
bearer tokens accepted and refused for each reason, and App Service Authentication's principal header."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import redis

from tests.conftest import TEST_RULES
from local.alerts import metric_alert
from local.emulator.keyvault import TENANT
from tests.support.identity import APP_ID_URI, CLIENT_ID, ISSUERS, OTHER_TENANT, client_principal, new_key, object_id
from local.processes import RedisServer

OPERATOR, APPROVER = "Responder.Operator", "Responder.Approver"
APP = "augeo-production-api"
CACHE = ("/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/augeo-production-rg/providers/"
         "Microsoft.Cache/Redis/augeo-production-redis")


@pytest.fixture
async def api(app_env):
    from function_app import app
    from local.localrun import LocalRunner

    runner = LocalRunner(app, env=app_env, port=0, timers=False)
    port = await runner.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    await runner.stop()


@pytest.fixture
def site(emulator):
    return emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})


def action(target: str, name: str = "swap_back", **fields) -> dict:
    return {"action": name, "target": target, "reason": "v1.2.3 fails checkout", "params": {}, **fields}


async def until_final(api: httpx.AsyncClient, url: str, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        incident = (await api.get(url)).json()
        if incident["status"] in ("resolved", "failed", "escalated", "suppressed", "rejected", "cancelled"):
            return incident
        assert time.monotonic() < deadline, f"still {incident['status']} after {seconds} s"
        await asyncio.sleep(0.1)


async def test_an_operator_swaps_back_through_the_api(api, issuer, emulator, site):
    answer = await api.post("/api/actions", json=action(site.id), headers=issuer.headers(OPERATOR, name="ci-bot"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["url"].endswith(f"/api/incidents/{body['incident_id']}") and answer.headers["Location"] == body["url"]

    incident = await until_final(api, body["url"].replace(str(api.base_url), ""))
    assert incident["status"] == "resolved" and incident["source"] == "command"
    assert incident["requested_by"].startswith("ci-bot")
    assert emulator.release(APP) == "v1.2.2"

    listing = (await api.get("/api/incidents", params={"component": "backend", "status": "resolved"})).json()
    assert [item["id"] for item in listing["items"]] == [body["incident_id"]]
    alert = await api.post("/api/alerts", json=metric_alert(site.id))  # the same intake: now in cooldown
    assert alert.status_code == 202 and alert.json()["status"] == "suppressed"


async def test_the_same_idempotency_key_finds_the_same_incident(api, issuer, site):
    headers = {**issuer.headers(OPERATOR), "Idempotency-Key": "deploy-4711"}
    first = await api.post("/api/actions", json=action(site.id, dry_run=True), headers=headers)
    again = await api.post("/api/actions", json=action(site.id, dry_run=True), headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["incident_id"] == first.json()["incident_id"] and again.json()["duplicate"] is True


async def test_a_dry_run_action_changes_nothing(api, issuer, emulator, site):
    answer = await api.post("/api/actions", json=action(site.id, dry_run=True), headers=issuer.headers(OPERATOR))
    incident = await until_final(api, f"/api/incidents/{answer.json()['incident_id']}")
    assert incident["status"] == "resolved" and incident["status_reason"].startswith("dry run complete")
    assert emulator.swaps() == [] and emulator.release(APP) == "v1.2.3"


@pytest.mark.parametrize(("headers", "status", "says"), [
    ({}, 401, "no caller identity"),
    ({"Authorization": "Basic dXNlcjpwdw=="}, 401, "must be 'Bearer <token>'"),
    ({"Authorization": "Bearer not-a-jwt"}, 401, "not valid"),
])
async def test_requests_without_a_valid_identity_are_401(api, site, headers, status, says):
    answer = await api.post("/api/actions", json=action(site.id), headers=headers)
    assert answer.status_code == status and answer.json()["error"] == "unauthorized"
    assert says in answer.json()["message"]


async def test_a_caller_without_the_operator_role_is_403(api, issuer, site):
    answer = await api.post("/api/actions", json=action(site.id), headers=issuer.headers("Reader", name="eve"))
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    assert "eve lacks the role Responder.Operator (has: Reader)" == answer.json()["message"]


@pytest.mark.parametrize("change", [{"version": "1.0"}, {"version": "1.0", "audience": CLIENT_ID},
                                    {"version": "2.0"}], ids=["v1-app-id-uri", "v1-client-id", "v2"])
async def test_v1_and_v2_access_tokens_are_accepted(api, issuer, site, change):
    answer = await api.post("/api/actions", json=action(site.id, dry_run=True),
                            headers=issuer.headers(OPERATOR, name="ci-bot@contoso.com", **change))
    assert answer.status_code == 202, answer.text
    incident = (await api.get(f"/api/incidents/{answer.json()['incident_id']}")).json()
    assert incident["requested_by"] == f"ci-bot@contoso.com ({TENANT}/{object_id('ci-bot@contoso.com')}, bearer token)"


OTHER_V1_ISSUER = f"https://sts.windows.net/{OTHER_TENANT}/"
OTHER_V2_ISSUER = f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"


@pytest.mark.parametrize(("change", "says"), [
    ({"version": "1.0", "issuer": OTHER_V1_ISSUER, "tenant": OTHER_TENANT}, f"is not tenant {TENANT}"),
    ({"version": "2.0", "issuer": OTHER_V2_ISSUER, "tenant": OTHER_TENANT}, f"is not tenant {TENANT}"),
    ({"version": "1.0", "audience": "api://someone-else"}, "not for this API: its audience is 'api://someone-else'"),
    ({"version": "2.0", "audience": "api://someone-else"}, "not for this API"),
    ({"version": "2.0", "audience": APP_ID_URI}, f"a v2.0 token must be for {CLIENT_ID}"),  # Entra never issues it
    ({"version": "1.0", "issuer": ISSUERS["2.0"]}, "is that of v2.0 tokens, but its ver says 1.0"),
    ({"version": "2.0", "issuer": ISSUERS["1.0"]}, "is that of v1.0 tokens, but its ver says 2.0"),
    ({"version": "1.0", "tenant": OTHER_TENANT}, f"is for tenant '{OTHER_TENANT}', not {TENANT}"),
    ({"version": "2.0", "tenant": OTHER_TENANT}, f"is for tenant '{OTHER_TENANT}', not {TENANT}"),
    ({"version": "2.0", "drop": ("tid",)}, "has no tid claim"),
    ({"version": "1.0", "expires_in": -120}, "has expired"),
    ({"version": "2.0", "expires_in": -120}, "has expired"),
    ({"version": "1.0", "not_before": 600}, "not valid yet"),
    ({"version": "2.0", "not_before": 600}, "not valid yet"),
    ({"version": "1.0", "key": "other"}, "signature is not valid"),
    ({"version": "2.0", "key": "other", "kid": "unpublished"}, "signed by a key the tenant does not publish"),
    ({"version": "2.0", "algorithm": "HS256"}, "signed with 'HS256'; only RS256 is accepted"),
    ({"version": "1.0", "algorithm": "RS384"}, "signed with 'RS384'; only RS256 is accepted"),
    ({"version": "2.0", "ver": "3.0"}, "ver is '3.0'"),
    ({"version": "2.0", "drop": ("ver",)}, "ver is None"),
    ({"version": "2.0", "ver": ["2.0"]}, "ver is ['2.0']"),
    ({"version": "1.0", "audience": "api://" + "x" * 500}, "its audience is 'api://xxx"),
    ({"version": "1.0", "drop": ("appid",)}, "a v1.0 access token names the calling app in appid"),
    ({"version": "2.0", "drop": ("azp",)}, "a v2.0 access token names the calling app in azp"),  # an ID token
    ({"version": "2.0", "oid": "not-a-guid"}, "names no object id (oid)"),
])
async def test_bearer_tokens_are_refused_for_each_reason(api, issuer, site, change, says):
    if change.get("key") == "other":
        change = {**change, "key": new_key()}
    answer = await api.post("/api/actions", json=action(site.id), headers=issuer.headers(OPERATOR, **change))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized" and says in answer.json()["message"], answer.json()


async def test_a_roles_claim_given_as_a_string_is_one_role(api, issuer, site):
    refused = await api.post("/api/actions", json=action(site.id), headers=issuer.headers(roles="Reader", name="eve"))
    assert refused.status_code == 403
    assert refused.json()["message"] == "eve lacks the role Responder.Operator (has: Reader)"
    accepted = await api.post("/api/actions", json=action(site.id, dry_run=True),
                              headers=issuer.headers(roles=OPERATOR))
    assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize(("body", "says"), [
    ({"action": "teleport", "target": "/x", "reason": "because"}, "unknown action 'teleport'"),
    ({"action": "swap_back", "target": CACHE, "reason": "because"}, "needs a Microsoft.Web/sites resource id"),
    ({"action": "flush_cache", "target": CACHE, "reason": "because", "params": {"patterns": ["*"]}},
     "use mode: full, which requires approval"),
    ({"action": "swap_back", "target": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/a/slots/b",
      "reason": "because"}, "needs a Microsoft.Web/sites resource id"),
    ({"action": "swap_back", "target": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/a",
      "reason": "because", "params": {"recent_change_window": "36500d"}}, "params.recent_change_window: not settable"),
    ({"action": "swap_back", "target": "/x"}, "reason: required"),
    ({"action": "swap_back", "target": "/x", "reason": "ok!", "colour": "red"}, "colour: Extra inputs"),
    ({"action": "flush_cache", "target": CACHE, "reason": "because", "params": {"database": "many"}},
     "params.database"),
])
async def test_invalid_action_requests_are_422_naming_the_field(api, issuer, body, says):
    answer = await api.post("/api/actions", json=body, headers=issuer.headers(OPERATOR))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_request" and says in answer.json()["message"]


async def test_malformed_and_oversized_bodies(api, issuer):
    answer = await api.post("/api/actions", content=b"{oops", headers=issuer.headers(OPERATOR))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_json"
    answer = await api.post("/api/actions", content=b" " * (2 << 20), headers=issuer.headers(OPERATOR))
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"


@pytest.fixture
def cache(rules_file):
    server = RedisServer().start()
    client = redis.Redis(port=server.port)
    client.execute_command("DEBUG", "POPULATE", 100, "session", 8)
    connection = json.dumps({"host": "127.0.0.1", "port": server.port, "tls": False, "auth": "none"})
    rules_file.write_text(TEST_RULES + f"targets:\n  - resource: {CACHE}\n    params: {{flush_cache: {connection}}}\n")
    yield server, client
    server.stop()


def full_flush(server) -> dict:
    return action(CACHE, "flush_cache", params={"mode": "full"})


async def test_approve_reject_and_cancel(api, issuer, cache):
    server, client = cache
    requested = (await api.post("/api/actions", json=full_flush(server), headers=issuer.headers(OPERATOR))).json()
    assert requested["status"] == "awaiting_approval"
    url = f"/api/incidents/{requested['incident_id']}"

    as_operator = await api.post(f"{url}/approve", headers=issuer.headers(OPERATOR, name="alice@contoso.com"))
    assert as_operator.status_code == 403
    approved = await api.post(f"{url}/approve", json={"comment": "go"}, headers=issuer.headers(APPROVER, name="bob"))
    assert approved.status_code == 200, approved.text
    assert (await until_final(api, url))["status"] == "resolved" and client.dbsize() == 0
    again = await api.post(f"{url}/approve", headers=issuer.headers(APPROVER, name="carol"))
    assert again.status_code == 409 and "resolved, not awaiting approval" in again.json()["message"]

    second = (await api.post("/api/actions", json=full_flush(server), headers=issuer.headers(OPERATOR))).json()
    rejected = await api.post(f"/api/incidents/{second['incident_id']}/reject", json={"comment": "not now"},
                              headers=issuer.headers(APPROVER, name="bob"))
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert "rejected by bob" in rejected.json()["status_reason"] and "not now" in rejected.json()["status_reason"]

    third = (await api.post("/api/actions", json=full_flush(server), headers=issuer.headers(OPERATOR))).json()
    cancelled = await api.post(f"/api/incidents/{third['incident_id']}/cancel", headers=issuer.headers(OPERATOR))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    missing = await api.post("/api/incidents/inc-20261125-000000000-abcdef/cancel", headers=issuer.headers(OPERATOR))
    assert missing.status_code == 404


ALICE = object_id("alice@contoso.com")


@pytest.mark.parametrize("spelling", [ALICE.upper(), "{" + ALICE.upper() + "}", "{" + ALICE + "}"],
                         ids=["upper", "upper-braces", "braces"])
async def test_the_requester_cannot_approve_with_its_object_id_spelled_otherwise(api, issuer, cache, spelling):
    server, client = cache
    requested = (await api.post("/api/actions", json=full_flush(server),
                                headers=issuer.headers(OPERATOR, APPROVER, oid=ALICE, version="1.0"))).json()
    url = f"/api/incidents/{requested['incident_id']}"
    answer = await api.post(f"{url}/approve", headers=issuer.headers(APPROVER, oid=spelling, name="alice-again"))
    assert answer.status_code == 403 and answer.json()["error"] == "self_approval", answer.text
    incident = (await api.get(url)).json()
    assert incident["status"] == "awaiting_approval" and incident["approved_by"] is None
    assert client.dbsize() == 100  # nothing ran


async def test_an_incident_recorded_with_a_non_canonical_requester_still_refuses_that_requester(api, issuer, cache):
    from shared import services

    server, client = cache
    requested = (await api.post("/api/actions", json=full_flush(server), headers=issuer.headers(OPERATOR))).json()

    def as_recorded_before_ids_were_canonical(incident):
        incident.requester_id = "{" + ALICE.upper() + "}"  # a bare object id, upper case, braces
        return incident

    await services.current().store.update(requested["incident_id"], as_recorded_before_ids_were_canonical)
    url = f"/api/incidents/{requested['incident_id']}"
    answer = await api.post(f"{url}/approve", headers=issuer.headers(APPROVER, oid=ALICE))
    assert answer.status_code == 403 and answer.json()["error"] == "self_approval", answer.text
    assert client.dbsize() == 100
    approved = await api.post(f"{url}/approve", headers=issuer.headers(APPROVER, name="bob@contoso.com"))
    assert approved.status_code == 200, approved.text


async def test_an_app_service_principal_is_the_same_person_as_its_token(api, issuer, cache, monkeypatch):
    from shared import services

    monkeypatch.setenv("RESPONDER_TRUST_APP_SERVICE_AUTH", "true")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    services.forget()
    server, client = cache
    requested = (await api.post("/api/actions", json=full_flush(server), headers=issuer.headers(OPERATOR))).json()
    url = f"/api/incidents/{requested['incident_id']}"
    signed_in = client_principal(APPROVER, oid="{" + ALICE.upper() + "}", name="alice@contoso.com",
                                 tenant=TENANT.upper())
    answer = await api.post(f"{url}/approve", headers=signed_in)
    assert answer.status_code == 403 and answer.json()["error"] == "self_approval", answer.text
    assert client.dbsize() == 100
    elsewhere = client_principal(APPROVER, oid=ALICE, tenant=OTHER_TENANT)
    answer = await api.post(f"{url}/approve", headers=elsewhere)
    assert answer.status_code == 401 and f"from tenant {OTHER_TENANT}, not {TENANT}" in answer.json()["message"]
    no_tenant = client_principal(APPROVER, oid=ALICE, tenant=None)
    answer = await api.post(f"{url}/approve", headers=no_tenant)
    assert answer.status_code == 401 and "names no tenant id" in answer.json()["message"]


async def test_an_expired_approval_is_refused_and_the_incident_cancelled(api, issuer, cache, app_env):
    from shared import services
    from shared.config import Settings
    from tests.support.clock import FakeClock

    clock = FakeClock()
    services.use(services.Services(Settings.from_env(app_env), clock=clock, sleep=clock.sleep))
    server, client = cache
    requested = (await api.post("/api/actions", json=full_flush(server), headers=issuer.headers(OPERATOR))).json()
    clock.advance(minutes=30, seconds=1)  # RESPONDER_APPROVAL_TTL: 30 minutes
    url = f"/api/incidents/{requested['incident_id']}"
    answer = await api.post(f"{url}/approve", headers=issuer.headers(APPROVER, name="bob"))
    assert answer.status_code == 409 and answer.json()["error"] == "approval_expired"
    incident = (await api.get(url)).json()
    assert incident["status"] == "cancelled" and client.dbsize() == 100


async def test_app_service_authentication_is_trusted_only_when_the_setting_says_so(api, issuer, site, monkeypatch):
    from shared import services

    headers = client_principal(OPERATOR, name="dana@contoso.com")
    refused = await api.post("/api/actions", json=action(site.id, dry_run=True), headers=headers)
    assert refused.status_code == 401
    monkeypatch.setenv("RESPONDER_TRUST_APP_SERVICE_AUTH", "true")  # the setting alone is not enough...
    services.forget()
    refused = await api.post("/api/actions", json=action(site.id, dry_run=True), headers=headers)
    assert refused.status_code == 401
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")  # ...App Service must say its authentication is on
    services.forget()
    accepted = await api.post("/api/actions", json=action(site.id, dry_run=True), headers=headers)
    assert accepted.status_code == 202, accepted.text
    incident = (await api.get(f"/api/incidents/{accepted.json()['incident_id']}")).json()
    assert incident["requested_by"].startswith("dana@contoso.com") and "App Service Authentication" in \
        incident["requested_by"]


async def test_the_openapi_document_matches_the_apps_routes(api):
    from function_app import app
    from local.localrun import FunctionTable

    document = (await api.get("/api/openapi.json")).json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {(method, route.template) for route in FunctionTable(app, {"RESPONDER_QUEUE": "x"}).http
              for method in route.methods}
    assert documented == served
    assert document["openapi"].startswith("3.")
