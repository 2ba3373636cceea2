"""flush_cache against real redis-servers started here (plain, password, TLS, ACL user, 3-node cluster),
driven through the command API and the executor like in production."""

from __future__ import annotations

import json
import logging

import pytest
import redis

from tests.conftest import TEST_RULES
from local.emulator import RESOURCE_GROUP, SUBSCRIPTION
from local.processes import RedisCluster, RedisServer

CACHE = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Cache/Redis/"
         "augeo-production-redis")
OPERATOR, APPROVER = "Responder.Operator", "Responder.Approver"


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def populate(port: int, **counts: int) -> redis.Redis:
    client = redis.Redis(port=port)
    for prefix, count in counts.items():
        client.execute_command("DEBUG", "POPULATE", count, prefix, 16)
    return client


def keys_of(client: redis.Redis, pattern: str) -> int:
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


async def request(app, issuer, params: dict, *, roles=(OPERATOR,), name="alice@contoso.com", dry_run=False,
                  action="flush_cache", target=CACHE) -> tuple[int, dict]:
    body = {"action": action, "target": target, "params": params, "reason": "stale sessions after v1.2.3",
            "dry_run": dry_run}
    return await app.call("request_action", "POST", "/api/actions", body, headers=issuer.headers(*roles, name=name))


@pytest.fixture
def cache_target(rules_file):
    """Say, in the rules file's trusted targets section, how to reach the cache (the API may not)."""

    def configure(**connection) -> None:
        rules_file.write_text(TEST_RULES + f"targets:\n  - resource: {CACHE}\n    params:\n"
                                           f"      flush_cache: {json.dumps(connection)}\n")

    return configure


def plain(server: RedisServer, **extra) -> dict:
    return {"host": "127.0.0.1", "port": server.port, "tls": False, "auth": "none", **extra}


async def test_selective_flush_removes_exactly_the_matching_keys(app, issuer, redis_server, cache_target):
    client = populate(redis_server.port, session=60_000, jwt_blacklist=15_000, user=50_000)
    cache_target(**plain(redis_server))

    status, body = await request(app, issuer, {"patterns": ["session:*", "jwt_blacklist:*"]})
    assert status == 202 and body["status"] == "accepted", body
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident["status_reason"]
    assert keys_of(client, "session:*") == 0 and keys_of(client, "jwt_blacklist:*") == 0
    assert keys_of(client, "user:*") == 50_000 and client.dbsize() == 50_000
    executed = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "executed")
    assert "removed 60,000 session:* and" not in executed  # counts are listed per pattern:
    assert "60,000 session:*" in executed and "15,000 jwt_blacklist:*" in executed
    verified = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "verified")
    assert "0 session:*, 0 jwt_blacklist:* keys remain" in verified
    assert incident["requested_by"].startswith("alice@contoso.com")


async def test_dry_run_reports_the_count_and_removes_nothing(app, issuer, redis_server, cache_target):
    client = populate(redis_server.port, session=2_000, user=500)
    cache_target(**plain(redis_server))

    status, body = await request(app, issuer, {"patterns": ["session:*"]}, dry_run=True)
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved" and "dry run" in incident["status_reason"]
    assert client.dbsize() == 2_500
    dry = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "dry run")
    assert dry == "dry run: would remove 2,000 session:* keys; nothing changed"


async def test_full_flush_waits_for_approval_and_refuses_self_approval(app, issuer, redis_server, cache_target):
    client = populate(redis_server.port, session=300, user=200)
    cache_target(**plain(redis_server))

    status, body = await request(app, issuer, {"mode": "full"}, roles=(OPERATOR, APPROVER))
    await app.drain()
    incident_id = body["incident_id"]
    assert body["status"] == "awaiting_approval"
    assert client.dbsize() == 500  # nothing happens without approval

    route = {"incident_id": incident_id}
    status, answer = await app.call("approve_incident", "POST", f"/api/incidents/{incident_id}/approve",
                                    route_params=route, headers=issuer.headers(APPROVER, name="alice@contoso.com"))
    assert status == 403 and answer["error"] == "self_approval"
    assert client.dbsize() == 500

    status, answer = await app.call("approve_incident", "POST", f"/api/incidents/{incident_id}/approve",
                                    {"comment": "sessions are corrupt; users can log in again"}, route_params=route,
                                    headers=issuer.headers(APPROVER, name="bob@contoso.com"))
    assert status == 200 and answer["approved_by"].startswith("bob@contoso.com")
    await app.drain()

    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved", incident["status_reason"]
    assert client.dbsize() == 0
    assert any(e["outcome"] == "approved" and "users can log in again" in e["detail"] for e in incident["timeline"])
    assert "FLUSHALL ASYNC" in next(e["detail"] for e in incident["timeline"] if e["outcome"] == "executed")


async def test_a_rule_can_explicitly_allow_a_full_flush_of_one_database(app, redis_server, rules_file,
                                                                         emulator):
    from local.alerts import metric_alert

    client = populate(redis_server.port, session=100)
    other_db = redis.Redis(port=redis_server.port, db=1)
    other_db.set("keep", "me")
    connection = json.dumps(plain(redis_server, mode="full", database=0))
    rules_file.write_text(f"""
rules:
  - name: poisoned-cache
    match: {{alert_rule: "*cache poisoned*"}}
    component: cache
    steps:
      - kind: flush_cache
        target: {CACHE}
        params: {connection}
        guards: {{requires_approval: false}}
""")
    site = emulator.add_app("augeo-production-api", production="v1.2.2")

    status, body = await app.post_alert(metric_alert(site.id, rule="cache poisoned", severity="Sev1"))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert body["status"] == "accepted" and incident["status"] == "resolved", incident["status_reason"]
    assert incident["plan"]["steps"][0]["destructive"] is True
    assert client.dbsize() == 0 and other_db.get("keep") == b"me"  # FLUSHDB of database 0 only
    assert "FLUSHDB ASYNC" in next(e["detail"] for e in incident["timeline"] if e["outcome"] == "executed")


async def test_the_api_cannot_say_where_to_connect_or_which_secret_to_send(app, issuer):
    for params in ({"host": "attacker.example", "patterns": ["session:*"]},
                   {"secret_name": "database-url", "patterns": ["session:*"]},
                   {"key_vault_url": "https://127.0.0.1:1", "patterns": ["session:*"]}):
        status, answer = await request(app, issuer, params, dry_run=True)
        assert status == 422 and "not settable through the API" in answer["message"], answer
    status, answer = await request(app, issuer, {"patterns": ["?*"]})
    assert status == 422 and "literal characters" in answer["message"]
    status, page = await app.list_incidents()
    assert page["items"] == []


async def test_wrong_password_fails_the_incident_without_revealing_the_secret(app, issuer, emulator, caplog,
                                                                              cache_target):
    server = RedisServer(password="the-right-password-123").start()
    try:
        emulator.vault.set("redis-access-key", "a-stale-password-456")
        cache_target(host="127.0.0.1", port=server.port, tls=False)
        with caplog.at_level(logging.DEBUG):
            status, body = await request(app, issuer, {"patterns": ["session:*"]})
            await app.drain()
        incident = await app.incident(body["incident_id"])
    finally:
        server.stop()
    assert incident["status"] == "failed"
    assert "Redis refused the credentials" in incident["status_reason"]
    assert "a-stale-password-456" not in json.dumps(incident)
    assert "a-stale-password-456" not in caplog.text


async def test_redis_down_fails_the_incident_with_a_clear_reason(app, issuer, cache_target):
    from local.processes import free_port

    cache_target(host="127.0.0.1", port=free_port(), tls=False, auth="none", connect_timeout=1)
    status, body = await request(app, issuer, {"patterns": ["session:*"]})
    incident = await _drain_until_final(app, body["incident_id"])
    assert incident["status"] == "failed"
    assert "gave up after 2 retries" in incident["status_reason"]
    assert "refused the connection" in incident["status_reason"]


async def test_tls_connection_with_the_access_key_from_key_vault(app, issuer, emulator, cache_target):
    cert, key = emulator.issue_cert("127.0.0.1")
    server = RedisServer(password="tls-access-key-789", tls=(cert, key, emulator.ca_path)).start()
    try:
        emulator.vault.set("redis-access-key", "tls-access-key-789")
        client = redis.Redis(host="127.0.0.1", port=server.port, password="tls-access-key-789", ssl=True,
                             ssl_ca_certs=emulator.ca_path)
        client.set("session:1", "x")
        client.set("user:1", "y")
        cache_target(host="127.0.0.1", port=server.port)
        status, body = await request(app, issuer, {"patterns": ["session:*"]})
        await app.drain()
        incident = await app.incident(body["incident_id"])
        assert incident["status"] == "resolved", incident["status_reason"]
        assert client.exists("session:1") == 0 and client.exists("user:1") == 1
        assert "(TLS, database 0)" in next(e["detail"] for e in incident["timeline"] if e["outcome"] == "precheck ok")
    finally:
        server.stop()


async def test_tls_to_a_server_the_app_does_not_trust_fails_as_a_tls_error(app, issuer, emulator, tmp_path,
                                                                         cache_target):
    import trustme

    stranger = trustme.CA().issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    stranger.cert_chain_pems[0].write_to_path(str(cert))
    stranger.private_key_pem.write_to_path(str(key))
    server = RedisServer(tls=(str(cert), str(key), emulator.ca_path)).start()
    try:
        cache_target(host="127.0.0.1", port=server.port, auth="none")
        status, body = await request(app, issuer, {"patterns": ["session:*"]})
        await app.drain()
        incident = await app.incident(body["incident_id"])
    finally:
        server.stop()
    assert incident["status"] == "failed" and "TLS handshake failed" in incident["status_reason"]


async def test_entra_id_authentication_uses_the_identity_token_as_password(app, issuer, redis_server,
                                                                          cache_target):
    admin = redis.Redis(port=redis_server.port)
    admin.execute_command("ACL", "SETUSER", "responder-oid", "on", ">emulator-token", "~*", "+@all")
    admin.set("session:1", "x")

    cache_target(**plain(redis_server, auth="entra_id", username="responder-oid"))
    status, body = await request(app, issuer, {"patterns": ["session:*"]})
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident["status_reason"]
    assert admin.exists("session:1") == 0


async def test_cluster_mode_against_a_cache_that_is_no_cluster_fails_at_once(app, issuer, redis_server, cache_target):
    cache_target(**plain(redis_server, cluster=True))
    status, body = await request(app, issuer, {"patterns": ["session:*"]})
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "failed"
    assert "the server is not a Redis Cluster (set cluster: false)" in incident["status_reason"]


async def test_an_unlink_refused_mid_flush_ends_the_flush_with_the_reason(redis_server):
    """UNLINK refused while the scan is ahead of it (its queue full, as batches of one key make it at once): the
    flush ends with the error instead of waiting forever for the scan to stop."""
    import asyncio

    from shared.adapters.cache import Cache, CacheEndpoint
    from shared.errors import CacheAuthFailed

    admin = populate(redis_server.port, session=5_000)
    admin.execute_command("ACL", "SETUSER", "scan-only", "on", ">scan-only-password", "~*", "+@all", "-unlink")
    cache = await Cache.connect(CacheEndpoint(host="127.0.0.1", port=redis_server.port, tls=False, database=0,
                                              cluster=False, username="scan-only", password="scan-only-password",
                                              connect_timeout=5, socket_timeout=5, ca_bundle=None))
    flush = asyncio.ensure_future(cache.unlink_matching("session:*", count=1000, batch=1))
    try:
        done, _ = await asyncio.wait({flush}, timeout=60)  # a guard against the hang, not a speed check
        assert flush in done, "the flush never ended after Redis refused UNLINK"
        with pytest.raises(CacheAuthFailed) as refused:
            flush.result()
    finally:
        flush.cancel()
        await cache.aclose()
    assert "NOPERM" in str(refused.value) and "scan-only-password" not in str(refused.value)
    assert admin.dbsize() == 5_000


@pytest.mark.slow
async def test_selective_flush_scans_every_primary_of_a_cluster(app, issuer, cache_target):
    cluster = RedisCluster().start()
    try:
        client = redis.RedisCluster(host="127.0.0.1", port=cluster.port)
        for number in range(3000):
            client.set(f"session:{number}", "x")
            client.set(f"user:{number}", "y")
        primaries_with_sessions = sum(
            1 for node in client.get_primaries()
            if any(True for _ in client.scan_iter(match="session:*", target_nodes=node)))
        assert primaries_with_sessions == 3

        cache_target(host="127.0.0.1", port=cluster.port, tls=False, auth="none", cluster=True)
        status, body = await request(app, issuer, {"patterns": ["session:*"]})
        await app.drain()
        incident = await app.incident(body["incident_id"])
        assert incident["status"] == "resolved", incident["status_reason"]
        assert "3,000 session:*" in next(e["detail"] for e in incident["timeline"] if e["outcome"] == "executed")
        assert sum(1 for _ in client.scan_iter(match="session:*")) == 0
        assert sum(1 for _ in client.scan_iter(match="user:*")) == 3000
    finally:
        cluster.stop()


# The cache's host name, as a clustered Azure Cache for Redis is configured: the nodes' certificate names only
# `localhost` (no IP), and every node announces 127.0.0.1. Written in capitals because redis-py replaces the exact
# string "localhost" with its IP address (ClusterNode), which would hide the host name from TLS; host names are
# case-insensitive both for the resolver and for certificate matching, so this is still the certificate's name.
CLUSTER_HOST = "LOCALHOST"


@pytest.fixture
def tls_cluster(emulator):
    """Three TLS-only primaries (cluster bus and replication over TLS too) with a certificate from the CA the app
    trusts that names only `localhost`, each announcing its IP: the clustered Azure Cache for Redis layout."""
    cert, key = emulator.issue_cert("localhost")
    cluster = RedisCluster(tls=(cert, key, emulator.ca_path)).start()
    yield cluster
    cluster.stop()


def tls_cluster_client(cluster: RedisCluster, ca_path: str) -> redis.RedisCluster:
    """The test's own view of the cluster (to fill and inspect it), verifying TLS the same way."""
    return redis.RedisCluster(host=CLUSTER_HOST, port=cluster.port, ssl=True, ssl_ca_certs=ca_path,
                              address_remap=lambda address: (CLUSTER_HOST, address[1]))


def fill_cluster(client: redis.RedisCluster, **counts: int) -> None:
    pipe = client.pipeline()
    for prefix, count in counts.items():
        for number in range(count):
            pipe.set(f"{prefix}:{number}", "x")
    pipe.execute()


def tls_cluster_target(cluster: RedisCluster) -> dict:
    return {"host": CLUSTER_HOST, "port": cluster.port, "tls": True, "auth": "none", "cluster": True}


def test_the_tls_cluster_announces_ips_its_certificate_does_not_name(tls_cluster, emulator):
    """The control for the tests below: following the topology as announced, the client is refused by TLS, and
    the responder reports that as a TLS failure (what it did before clustered caches were reached by name)."""
    import asyncio

    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    from shared.adapters.cache import translated
    from shared.errors import CacheTLSFailed

    slots = tls_cluster.cli(tls_cluster.port, "cluster", "slots").split()
    assert "127.0.0.1" in slots and not any("localhost" in line.lower() for line in slots)

    async def follow_the_announced_addresses() -> None:
        client = AsyncRedisCluster(host=CLUSTER_HOST, port=tls_cluster.port, ssl=True, ssl_cert_reqs="required",
                                   ssl_ca_certs=emulator.ca_path)
        try:
            with translated(cluster_endpoint(tls_cluster, emulator.ca_path), "connect"):
                await client.ping()
        finally:
            await client.aclose()

    with pytest.raises(CacheTLSFailed) as refused:
        asyncio.run(follow_the_announced_addresses())
    assert "TLS handshake failed" in str(refused.value)
    assert "IP address mismatch" in str(refused.value) and "127.0.0.1" in str(refused.value)


@pytest.mark.slow
async def test_selective_flush_of_a_tls_cluster_reaches_every_primary_by_the_host_name(app, issuer, emulator,
                                                                                       tls_cluster, cache_target):
    client = tls_cluster_client(tls_cluster, emulator.ca_path)
    fill_cluster(client, session=3000, user=3000)
    assert all(any(True for _ in client.scan_iter(match="session:*", target_nodes=node))
               for node in client.get_primaries())

    cache_target(**tls_cluster_target(tls_cluster))
    status, body = await request(app, issuer, {"patterns": ["session:*"]})
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident["status_reason"]
    details = {e["outcome"]: e["detail"] for e in incident["timeline"]}
    assert f"connected to {CLUSTER_HOST}:{tls_cluster.port} (TLS, database 0): 6,000 keys" in details["precheck ok"]
    assert "3,000 session:*" in details["executed"]
    assert "0 session:* keys remain" in details["verified"]
    assert sum(1 for _ in client.scan_iter(match="session:*")) == 0
    assert sum(1 for _ in client.scan_iter(match="user:*")) == 3000


@pytest.mark.slow
async def test_full_flush_of_a_tls_cluster_empties_every_primary_by_the_host_name(app, issuer, emulator,
                                                                                  tls_cluster, cache_target):
    client = tls_cluster_client(tls_cluster, emulator.ca_path)
    fill_cluster(client, session=500, user=500)

    cache_target(**tls_cluster_target(tls_cluster))
    status, body = await request(app, issuer, {"mode": "full"})
    assert body["status"] == "awaiting_approval"
    incident_id = body["incident_id"]
    status, answer = await app.call("approve_incident", "POST", f"/api/incidents/{incident_id}/approve",
                                    route_params={"incident_id": incident_id},
                                    headers=issuer.headers(APPROVER, name="bob@contoso.com"))
    assert status == 200, answer
    await app.drain()

    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved", incident["status_reason"]
    assert "1,000 keys were there" in next(e["detail"] for e in incident["timeline"] if e["outcome"] == "executed")
    assert [client.dbsize(target_nodes=node) for node in client.get_primaries()] == [0, 0, 0]


def cluster_endpoint(cluster: RedisCluster, ca_path: str):
    from shared.adapters.cache import CacheEndpoint

    return CacheEndpoint(host=CLUSTER_HOST, port=cluster.port, tls=True, database=0, cluster=True, username=None,
                         password=None, connect_timeout=5, socket_timeout=5, ca_bundle=ca_path)


def slot_elsewhere(client: redis.RedisCluster, cluster: RedisCluster, key: str) -> tuple[int, int, int]:
    """(the key's slot, the port of the node that has it, the port of another node)."""
    from redis.cluster import key_slot

    owner = int(client.get_node_from_key(key).port)
    return key_slot(key.encode()), owner, next(server.port for server in cluster.servers if server.port != owner)


@pytest.mark.slow
async def test_a_slot_resharded_after_connecting_is_followed_by_the_host_name(emulator, tls_cluster):
    """A reshard (scaling the cache) after the client read the topology: the node that had the slot answers
    MOVED with the new owner's IP address; the flush follows it to that node by host name and removes every key."""
    from shared.adapters.cache import Cache

    client = tls_cluster_client(tls_cluster, emulator.ca_path)
    fill_cluster(client, session=300, user=300)
    slot, owner, destination = slot_elsewhere(client, tls_cluster, "session:0")

    cache = await Cache.connect(cluster_endpoint(tls_cluster, emulator.ca_path))
    try:
        tls_cluster.move_slot(slot, owner, destination)
        removed = await cache.unlink_matching("session:*", count=100, batch=50)
    finally:
        await cache.aclose()

    assert removed == 300
    assert sum(1 for _ in client.scan_iter(match="session:*")) == 0
    assert sum(1 for _ in client.scan_iter(match="user:*")) == 300


@pytest.mark.slow
async def test_a_cluster_that_keeps_redirecting_is_a_temporary_failure(emulator, tls_cluster):
    """Mid-reshard the old owner answers ASK (with an IP address) and the new one, unless the ASKING reached the
    same connection as the command (redis-py's asyncio client does not ensure that), MOVED back: the flush gives
    up with a temporary error, to be retried, not a TLS or an unexpected one, and the retry after the reshard
    finishes removes what is left. Here the new owner never accepts the slot, so the bouncing is certain."""
    from shared.adapters.cache import Cache
    from shared.errors import CacheUnavailable

    client = tls_cluster_client(tls_cluster, emulator.ca_path)
    fill_cluster(client, session=300, user=300)
    slot, owner, destination = slot_elsewhere(client, tls_cluster, "session:0")
    endpoint = cluster_endpoint(tls_cluster, emulator.ca_path)

    cache = await Cache.connect(endpoint)
    try:
        tls_cluster.move_slot(slot, owner, destination, finish=False)  # keys moved, slot still migrating ...
        tls_cluster.cli(destination, "cluster", "setslot", str(slot), "stable")  # ... and refused by the new owner
        with pytest.raises(CacheUnavailable) as bounced:
            await cache.unlink_matching("session:*", count=100, batch=50)
    finally:
        await cache.aclose()
    assert CLUSTER_HOST in str(bounced.value)

    for server in tls_cluster.servers:  # the reshard finishes
        tls_cluster.cli(server.port, "cluster", "setslot", str(slot), "node", tls_cluster.node_id(destination))
    cache = await Cache.connect(endpoint)
    try:
        await cache.unlink_matching("session:*", count=100, batch=50)
    finally:
        await cache.aclose()
    assert sum(1 for _ in client.scan_iter(match="session:*")) == 0
    assert sum(1 for _ in client.scan_iter(match="user:*")) == 300


async def test_a_cluster_configured_by_ip_address_is_not_remapped_and_fails_tls_at_once(app, issuer, tls_cluster,
                                                                                       cache_target):
    """With an IP as the host the topology is used as announced, so the certificate must name the IP; this one
    names only the host name: a permanent TLS failure, not retried."""
    cache_target(**{**tls_cluster_target(tls_cluster), "host": "127.0.0.1"})
    status, body = await request(app, issuer, {"patterns": ["session:*"]})
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "failed"
    assert f"connect on 127.0.0.1:{tls_cluster.port}: TLS handshake failed" in incident["status_reason"]
    assert "IP address mismatch" in incident["status_reason"] and "gave up" not in incident["status_reason"]


async def _drain_until_final(app, incident_id: str, seconds: float = 20) -> dict:
    import asyncio
    import time

    deadline = time.monotonic() + seconds
    while True:
        await app.drain()
        incident = await app.incident(incident_id)
        if incident["status"] in ("resolved", "failed", "escalated", "cancelled") or time.monotonic() > deadline:
            return incident
        await asyncio.sleep(0.3)


async def test_a_rule_chains_a_flush_and_a_restart_of_the_backend(app, issuer, emulator, redis_server, tmp_path,
                                                                 monkeypatch):
    """Runbook "Redis Rollback": clear the sessions, then restart the App Service to clear in-memory state."""
    from shared import services
    from local.alerts import metric_alert

    site = emulator.add_app("augeo-production-api", production="v1.2.2")
    client = populate(redis_server.port, session=1_000, user=10)
    rules = tmp_path / "chain.yaml"
    rules.write_text(f"""
rules:
  - name: corrupted-sessions
    match: {{alert_rule: "*session*"}}
    component: cache
    steps:
      - kind: flush_cache
        target: {CACHE}
        params: {{host: 127.0.0.1, port: {redis_server.port}, tls: false, auth: none, patterns: ["session:*"]}}
      - kind: restart
        target: "{{alert.target}}"
        params: {{verify_interval: 0.05, verify_successes: 2, verify_window: 5}}
""")
    monkeypatch.setenv("RESPONDER_RULES_PATH", str(rules))
    services.forget()

    status, body = await app.post_alert(metric_alert(site.id, rule="session deserialization errors", severity="Sev2"))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident["status_reason"]
    assert [s["kind"] for s in incident["steps"]] == ["flush_cache", "restart"]
    assert all(s["state"] == "done" for s in incident["steps"])
    assert keys_of(client, "session:*") == 0 and client.dbsize() == 10
    assert site.slots["production"].restarts == 1
    restart_verified = [e for e in incident["timeline"] if e["step"] == "restart[1]" and e["outcome"] == "verified"]
    assert restart_verified and "healthy after the restart" in restart_verified[0]["detail"]


async def test_an_approved_flush_on_a_cache_that_was_flushed_meanwhile_is_suppressed(app, issuer, redis_server,
                                                                                      cache_target):
    client = populate(redis_server.port, session=50, user=50)
    cache_target(**plain(redis_server))
    status, full = await request(app, issuer, {"mode": "full"})
    assert full["status"] == "awaiting_approval"
    status, selective = await request(app, issuer, {"patterns": ["session:*"]})
    await app.drain()  # the selective flush runs and starts the cache's cooldown
    assert (await app.incident(selective["incident_id"]))["status"] == "resolved"

    route = {"incident_id": full["incident_id"]}
    status, answer = await app.call("approve_incident", "POST", f"/api/incidents/{full['incident_id']}/approve",
                                    route_params=route, headers=issuer.headers(APPROVER, name="bob@contoso.com"))
    assert status == 200
    await app.drain()

    incident = await app.incident(full["incident_id"])
    assert incident["status"] == "suppressed", incident["status_reason"]
    assert f"after incident {selective['incident_id']}" in incident["status_reason"]
    assert client.dbsize() == 50  # the users' keys are still there
