"""The health targets a sweep checks, through httpx.AsyncClient as a sweep calls them: healthy, failing, hanging,
flapping on a schedule, answering a body the check must match, over HTTPS and plain HTTP, HEAD and GET; the
frontend stand-in; and 500 targets served at once with half of them hanging, by one server and no thread each."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from local.emulator.targets import HANG, Answer, Schedule, failing, healthy
from tests.support.hang import hang_guard


def _threads() -> int:
    """The threads of this process, except the ones the *client's* loop resolves addresses in (they stay once
    made): the pool must not add any, however many requests it holds."""
    return len([t for t in threading.enumerate() if not t.name.startswith("client-resolver")])


@pytest.fixture(autouse=True)
async def named_resolver_threads():
    executor = ThreadPoolExecutor(thread_name_prefix="client-resolver")
    asyncio.get_running_loop().set_default_executor(executor)
    yield
    executor.shutdown(wait=False)


@pytest.fixture
def pool(emulator):
    return emulator.targets


@pytest.fixture
async def client(emulator):
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=emulator.ca_path), limits=limits,
                                 timeout=httpx.Timeout(5.0)) as client:
        yield client


async def test_a_healthy_target_answers_get_and_head_on_its_health_paths(pool, client):
    api = pool.add("api-1")
    for path in ("/health", "/health/detailed"):
        got = await client.get(api.url + path)
        assert got.status_code == 200 and got.json() == {"status": "healthy"}
        head = await client.head(api.url + path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Type"] == "application/json"
    assert [(method, path) for _, method, path in api.requests] == [
        ("GET", "/health"), ("HEAD", "/health"), ("GET", "/health/detailed"), ("HEAD", "/health/detailed")]


async def test_paths_and_methods_a_target_does_not_serve(pool, client):
    api = pool.add("api-1")
    assert (await client.get(api.url + "/healthz")).status_code == 404
    assert (await client.get(pool.targets["api-1"].url.replace("api-1", "nobody") + "/health")).status_code == 404
    refused = await client.post(api.url + "/health")
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET, HEAD"


async def test_a_failing_target_answers_its_status_with_a_body(pool, client):
    down = pool.add("api-1", failing(503, {"status": "unhealthy", "checks": {"database": "timeout"}}))
    got = await client.get(down.url + "/health")
    assert got.status_code == 503 and got.json()["checks"] == {"database": "timeout"}
    assert (await client.head(down.url + "/health")).status_code == 503


async def test_a_target_can_fail_on_one_path_only(pool, client):
    api = pool.add("api-1")
    api.set(failing(500), path="/health/detailed")
    assert (await client.get(api.url + "/health")).status_code == 200
    assert (await client.get(api.url + "/health/detailed")).status_code == 500


async def test_a_body_the_check_must_match(pool, client):
    """A 200 is not always healthy: the body says degraded, or names another version."""
    degraded = pool.add("api-1", Answer(200, {"status": "degraded", "version": "v1.2.3"}))
    text = pool.add("api-2", Answer(200, "OK but not really"))
    got = await client.get(degraded.url + "/health")
    assert got.status_code == 200 and got.json() == {"status": "degraded", "version": "v1.2.3"}
    plain = await client.get(text.url + "/health")
    assert plain.text == "OK but not really" and plain.headers["Content-Type"].startswith("text/plain")


async def test_a_hanging_target_never_answers_and_holds_no_thread(pool, client):
    stuck = pool.add("api-1", HANG)
    threads = _threads()
    with hang_guard(30, "requests to a hanging target"):
        outcomes = await asyncio.gather(*(client.get(stuck.url + "/health", timeout=0.3) for _ in range(40)),
                                        return_exceptions=True)
    assert all(isinstance(outcome, httpx.ReadTimeout) for outcome in outcomes)
    assert len(stuck.requests) == 40  # every request reached it, and none was answered
    assert _threads() == threads


async def test_a_slow_target_answers_after_its_delay(pool, client):
    slow = pool.add("api-1", healthy(delay=0.5))
    with pytest.raises(httpx.ReadTimeout):
        await client.get(slow.url + "/health", timeout=0.05)
    assert (await client.get(slow.url + "/health", timeout=5)).status_code == 200


async def test_a_flapping_target_follows_its_schedule_per_path(pool, client):
    flappy = pool.add("api-1", Schedule([healthy(), failing(503), failing(502)]))
    statuses = {path: [(await client.get(flappy.url + path)).status_code for _ in range(4)]
                for path in ("/health", "/health/detailed")}
    assert statuses == {"/health": [200, 503, 502, 200], "/health/detailed": [200, 503, 502, 200]}
    settled = pool.add("api-2", Schedule([failing(503), healthy()], repeat=False))
    assert [(await client.get(settled.url + "/health")).status_code for _ in range(4)] == [503, 200, 200, 200]


async def test_a_target_that_recovers(pool, client):
    api = pool.add("api-1", HANG)
    with pytest.raises(httpx.ReadTimeout):
        await client.get(api.url + "/health", timeout=0.2)
    api.set(healthy())
    assert (await client.get(api.url + "/health")).status_code == 200


async def test_plain_http_serves_the_same_targets(pool):
    api = pool.add("api-1", failing(503))
    own = pool.add("api-2", own_port=True)
    async with httpx.AsyncClient() as plain:
        assert api.http_url.startswith("http://") and (await plain.get(api.http_url + "/health")).status_code == 503
        assert (await plain.get(own.http_url + "/health")).status_code == 200


async def test_an_untrusted_client_cannot_reach_the_https_targets(pool):
    api = pool.add("api-1")
    async with httpx.AsyncClient() as untrusting:  # the system store does not hold the emulator's CA
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(api.url + "/health")


async def test_the_frontend_answers_head_at_its_root_and_reports_its_version(pool, client):
    web = pool.add_frontend("web", version="v3.4.5")
    assert web.url.count("/") == 2  # an origin of its own: https://127.0.0.1:<port>
    head = await client.head(web.url + "/")
    assert head.status_code == 200 and head.headers["Content-Type"].startswith("text/html") and head.content == b""
    assert '<meta name="app-version" content="v3.4.5">' in (await client.get(web.url + "/")).text
    version = await client.get(web.url + "/version.json")
    assert version.json() == {"version": "v3.4.5"} and version.headers["Cache-Control"] == "no-store"
    assert (await client.get(web.url + "/admin")).status_code == 404
    web.set(failing(503, "<h1>Service Unavailable</h1>"), path="/")
    assert (await client.head(web.url + "/")).status_code == 503


async def test_five_hundred_targets_at_once_half_of_them_hanging(emulator, pool):
    """One sweep's worth: every healthy target answers although 250 others never do, and the pool serves them all
    at once without a thread per target or per request. (Ten clients of fifty requests each: one httpx client
    with 500 requests in flight spends seconds in httpcore 1.0's pool bookkeeping, which grows with the square of
    the requests in flight; that is the client's cost, not the targets'.)"""
    targets = [pool.add(f"api-{n}", HANG if n % 2 else healthy()) for n in range(500)]
    threads = _threads()
    context = ssl.create_default_context(cafile=emulator.ca_path)

    async def check(client, target):
        try:
            return (await client.get(target.url + "/health", timeout=1.0)).status_code
        except httpx.TimeoutException:
            return "timeout"

    async def sweep(share):
        async with httpx.AsyncClient(verify=context, limits=httpx.Limits(max_connections=None)) as client:
            return await asyncio.gather(*(check(client, target) for target in share))

    with hang_guard(60, "a sweep of 500 targets"):
        shares = await asyncio.gather(*(sweep(targets[start:start + 50]) for start in range(0, 500, 50)))
    outcomes = [outcome for share in shares for outcome in share]
    assert outcomes == [("timeout" if n % 2 else 200) for n in range(500)]
    assert all(len(target.requests) == 1 for target in targets)
    assert _threads() == threads


async def test_a_pool_serves_from_a_process_of_its_own_for_benchmarks():
    """`python -m local.emulator.targets` lists its targets and CA on one line, serves until stdin closes."""
    server = subprocess.Popen([sys.executable, "-m", "local.emulator.targets", "--healthy", "2", "--hanging", "1",
                               "--failing", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        manifest = json.loads(server.stdout.readline())
        kinds = [target["kind"] for target in manifest["targets"]]
        assert kinds == ["healthy", "healthy", "hanging", "failing"]
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=manifest["ca"])) as client:
            outcomes = []
            for target in manifest["targets"]:
                try:
                    outcomes.append((await client.get(target["url"] + "/health", timeout=0.5)).status_code)
                except httpx.ReadTimeout:
                    outcomes.append("timeout")
            plain = await client.get(manifest["targets"][0]["http_url"] + "/health")
        assert outcomes == [200, 200, "timeout", 503] and plain.status_code == 200
    finally:
        server.stdin.close()
        assert server.wait(10) == 0
