"""AzureWebJobsStorage as the Functions host reads it: a connection string, or the identity-based form
(accountName, or table and queue service URIs, with a managed identity), and storage timeouts that fit
Azure Monitor's 10 s webhook. Pure: settings only, no I/O."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigurationError
from shared.store.storage import WEBHOOK_BUDGET, StoragePolicy

BASE = {"RESPONDER_QUEUE": "runs"}


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def refusal(**env: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings(**env)
    return str(caught.value)


def test_an_account_name_alone_gives_the_public_cloud_endpoints():
    storage = settings(AzureWebJobsStorage__accountName="augeoresponder").storage
    assert storage.identity_based
    assert storage.endpoint("table") == "https://augeoresponder.table.core.windows.net"
    assert storage.endpoint("queue") == "https://augeoresponder.queue.core.windows.net"


def test_service_uris_give_the_endpoints_of_a_sovereign_cloud():
    storage = settings(AzureWebJobsStorage__tableServiceUri="https://acct.table.core.usgovcloudapi.net/",
                       AzureWebJobsStorage__queueServiceUri="https://acct.queue.core.usgovcloudapi.net").storage
    assert storage.endpoint("table") == "https://acct.table.core.usgovcloudapi.net"
    assert storage.endpoint("queue") == "https://acct.queue.core.usgovcloudapi.net"


def test_the_account_name_wins_over_service_uris_as_in_the_host():
    storage = settings(AzureWebJobsStorage__accountName="acct",
                       AzureWebJobsStorage__queueServiceUri="https://other.queue.core.windows.net").storage
    assert storage.endpoint("queue") == "https://acct.queue.core.windows.net"


def test_a_connection_string_wins_over_the_identity_form_as_in_the_host():
    storage = settings(AzureWebJobsStorage="UseDevelopmentStorage=true",
                       AzureWebJobsStorage__accountName="acct").storage
    assert not storage.identity_based


def test_identity_setting_names_are_case_insensitive_like_the_hosts_configuration():
    storage = settings(AzureWebJobsStorage__accountname="acct", azurewebjobsstorage__CREDENTIAL="managedidentity",
                       AzureWebJobsStorage__clientid="11111111-2222-3333-4444-555555555555").storage
    assert storage.endpoint("table") == "https://acct.table.core.windows.net"
    assert storage.credential == "managedidentity" and storage.client_id.startswith("1111")


def test_no_storage_at_all_names_both_forms():
    message = refusal()
    assert "AzureWebJobsStorage: required" in message
    assert "AzureWebJobsStorage__accountName" in message and "AzureWebJobsStorage__queueServiceUri" in message


def test_a_table_uri_without_a_queue_uri_names_the_missing_one():
    message = refusal(AzureWebJobsStorage__tableServiceUri="https://acct.table.core.windows.net")
    assert "AzureWebJobsStorage__queueServiceUri: required" in message


def test_a_plain_http_service_uri_is_refused():
    message = refusal(AzureWebJobsStorage__tableServiceUri="http://acct.table.core.windows.net",
                      AzureWebJobsStorage__queueServiceUri="https://acct.queue.core.windows.net")
    assert "AzureWebJobsStorage__tableServiceUri: must be an https:// URL" in message


def test_only_the_managed_identity_credential_type_is_accepted():
    message = refusal(AzureWebJobsStorage__accountName="acct", AzureWebJobsStorage__credential="clientsecret")
    assert "AzureWebJobsStorage__credential: must be managedidentity" in message


def test_a_bad_account_name_is_refused():
    assert "3-24 lowercase letters and digits" in refusal(AzureWebJobsStorage__accountName="Augeo_Storage")


def test_the_emulator_credential_is_refused_for_storage_outside_loopback():
    message = refusal(AzureWebJobsStorage__accountName="acct", RESPONDER_CREDENTIAL="emulator",
                      RESPONDER_ARM_ENDPOINT="https://127.0.0.1:8443")
    assert "RESPONDER_CREDENTIAL=emulator is only allowed with loopback storage endpoints" in message


def test_the_default_storage_policy_fits_the_webhook_budget():
    policy = settings(AzureWebJobsStorage="UseDevelopmentStorage=true").storage_policy
    assert policy == StoragePolicy()
    # 2 attempts x (1.5 s connect + 2 s read) + one back-off of at most 0.75 s
    assert policy.worst_case() == pytest.approx(7.75)
    assert policy.worst_case() <= WEBHOOK_BUDGET
    assert policy.worst_case() <= settings(AzureWebJobsStorage="x").intake_deadline.total_seconds()


def test_storage_timeouts_that_cannot_fit_the_webhook_are_refused():
    message = refusal(AzureWebJobsStorage="UseDevelopmentStorage=true", RESPONDER_STORAGE_RETRY_TOTAL="3",
                      RESPONDER_STORAGE_READ_TIMEOUT="5")
    assert "one storage call could take 28.2 s" in message and "10 s" in message
