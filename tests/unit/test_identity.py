"""Identity without I/O: the Entra settings validated together, issuers derived per cloud, caller ids
compared canonically, a roles claim given as a string."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.config import _ENV, Settings
from shared.decide.callers import Caller, canonical_guid, roles_of, same_person
from shared.errors import ConfigurationError

BASE = {"AzureWebJobsStorage": "x", "RESPONDER_QUEUE": "runs"}
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6f1c2a1e-8d3b-4c55-9e0a-5b7d9c1e2f30"
ENTRA = {"RESPONDER_ENTRA_TENANT_ID": TENANT, "RESPONDER_ENTRA_CLIENT_ID": CLIENT,
         "RESPONDER_ENTRA_APP_ID_URI": "api://rollback-responder"}
OID = "5f1b0c4e-3a2d-4e6f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize(("given", "missing"), [
    ({"RESPONDER_ENTRA_TENANT_ID": TENANT}, "missing RESPONDER_ENTRA_CLIENT_ID, RESPONDER_ENTRA_APP_ID_URI"),
    ({"RESPONDER_ENTRA_TENANT_ID": TENANT, "RESPONDER_ENTRA_CLIENT_ID": CLIENT}, "missing RESPONDER_ENTRA_APP_ID_URI"),
    ({"RESPONDER_ENTRA_APP_ID_URI": "api://x"}, "missing RESPONDER_ENTRA_TENANT_ID, RESPONDER_ENTRA_CLIENT_ID"),
])
def test_a_partial_set_of_entra_settings_names_what_is_missing(given, missing):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **given})
    assert "go together" in str(caught.value) and missing in str(caught.value)


@pytest.mark.parametrize("setting", [{"RESPONDER_ALERTS_REQUIRE_TOKEN": "true"},
                                     {"RESPONDER_ENTRA_JWKS_URL": "https://127.0.0.1:1/keys"},
                                     {"RESPONDER_ENTRA_LOGIN_ENDPOINT": "https://login.microsoftonline.us"},
                                     {"RESPONDER_ALERTS_TOKEN_APP_IDS": CLIENT}])
def test_settings_that_need_entra_are_refused_without_it(setting):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **setting})
    assert f"{next(iter(setting))} need Microsoft Entra ID tokens configured: missing RESPONDER_ENTRA_TENANT_ID" \
        in str(caught.value)


@pytest.mark.parametrize(("setting", "says"), [
    ({"RESPONDER_ENTRA_TENANT_ID": "contoso.onmicrosoft.com"},
     "RESPONDER_ENTRA_TENANT_ID: Value error, must be a GUID"),
    ({"RESPONDER_ENTRA_CLIENT_ID": "rollback"}, "RESPONDER_ENTRA_CLIENT_ID: Value error, must be a GUID"),
    ({"RESPONDER_ENTRA_APP_ID_URI": "rollback-responder"}, "RESPONDER_ENTRA_APP_ID_URI: Value error"),
    ({"RESPONDER_ENTRA_LOGIN_ENDPOINT": "https://login.example.com"}, "must be the login endpoint of an Azure cloud"),
    ({"RESPONDER_ENTRA_LOGIN_ENDPOINT": "http://login.microsoftonline.com"}, "must be an https:// URL"),
    ({"RESPONDER_ALERTS_TOKEN_APP_IDS": "461e8683-5575-4561-ac7f-899cc907d62a, azns"}, "not GUIDs: azns"),
])
def test_each_wrong_entra_setting_is_named(setting, says):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **ENTRA, **setting})
    assert says in str(caught.value)


def test_the_example_settings_load_as_they_are():
    example = json.loads((Path(__file__).resolve().parents[2] / "local.settings.example.json").read_text())["Values"]
    settings = Settings.from_env({name: value for name, value in example.items() if name in _ENV.values()})
    assert settings.entra_tenant is None and not settings.alerts_require_token


def test_issuers_and_keys_derive_from_the_tenant_and_the_cloud():
    public = Settings.from_env({**BASE, **ENTRA, "RESPONDER_ENTRA_TENANT_ID": TENANT.upper()}).entra_tenant
    assert public.issuers == {"1.0": f"https://sts.windows.net/{TENANT}/",
                              "2.0": f"https://login.microsoftonline.com/{TENANT}/v2.0"}
    assert public.keys_url == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"
    assert public.audiences == {"1.0": ("api://rollback-responder", CLIENT), "2.0": (CLIENT,)}
    china = Settings.from_env({**BASE, **ENTRA, "RESPONDER_ENTRA_LOGIN_ENDPOINT": "https://login.chinacloudapi.cn/"})
    assert china.entra_tenant.issuers == {"1.0": f"https://sts.chinacloudapi.cn/{TENANT}/",
                                          "2.0": f"https://login.partner.microsoftonline.cn/{TENANT}/v2.0"}
    assert china.entra_tenant.keys_url == f"https://login.chinacloudapi.cn/{TENANT}/discovery/v2.0/keys"
    assert Settings.from_env(BASE).entra_tenant is None
    assert Settings.from_env(BASE).alerts_token_app_ids == {"461e8683-5575-4561-ac7f-899cc907d62a"}


def test_guids_are_canonical_whatever_their_spelling():
    assert canonical_guid(OID.upper()) == canonical_guid("{" + OID + "}") == canonical_guid(f" {OID} ") == OID
    assert canonical_guid("not-a-guid") is None and canonical_guid(None) is None and canonical_guid(42) is None


def caller(oid: str = OID, tenant: str = TENANT) -> Caller:
    return Caller(tenant, oid, "alice@contoso.com", frozenset(), "bearer token")


@pytest.mark.parametrize("recorded", [f"{TENANT}/{OID}", f"{TENANT.upper()}/{{{OID.upper()}}}", OID.upper(),
                                      "{" + OID + "}", f" {OID} "])
def test_a_recorded_requester_is_the_same_person_however_it_was_spelled(recorded):
    assert same_person(recorded, caller())


@pytest.mark.parametrize("recorded", [None, "", f"{TENANT}/9a1b0c4e-3a2d-4e6f-8a9b-0c1d2e3f4a5b",
                                      f"0d2b6a36-1111-4f7e-9a55-3c0a8f6e7d21/{OID}", "someone-else"])
def test_another_person_is_not_the_requester(recorded):
    assert not same_person(recorded, caller())


def test_a_roles_claim_given_as_a_string_is_one_role():
    assert roles_of("Responder.Operator") == {"Responder.Operator"}
    assert roles_of(["Responder.Operator", "Responder.Approver"]) == {"Responder.Operator", "Responder.Approver"}
    assert roles_of(None) == roles_of("") == roles_of({"x": 1}) == frozenset()
