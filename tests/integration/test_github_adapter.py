"""The GitHub adapter against the GitHub stand-in (real httpx over HTTPS): dispatch with and without the run's
details, finding a run by its marker, following it to a conclusion, re-runs, issues found by a marker, and
GitHub's refusals as the responder's errors (never with the token)."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from local.emulator import Emulator, ManualClock, Outcome, WorkflowInput
from shared.adapters.github import GitHub, split_repository
from shared.errors import ConfigurationError, UpstreamRefused, UpstreamUnavailable

START = datetime(2026, 12, 1, 22, 0, 0, tzinfo=timezone.utc)
FRONTEND = "augeo/frontend"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emulator(clock):
    with Emulator(clock=clock) as emu:
        repo = emu.github.add_repo(FRONTEND, tags=["v1.4.1", "v1.4.2"])
        emu.github.add_workflow(repo, "deploy-frontend.yml", "Deploy frontend",
                                inputs={"correlation_id": WorkflowInput()},
                                run_name="Deploy ${{ github.ref_name }} [${{ inputs.correlation_id }}]",
                                outcome=Outcome("success", queued=5, duration=60))
        yield emu


@pytest.fixture
async def github(emulator):
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=emulator.ca_path)) as http:
        async def token() -> str:
            return emulator.github.token
        yield GitHub(http, emulator.github_url, token)


async def test_dispatch_with_details_then_follow_the_run_to_success(github, clock):
    dispatched = await github.dispatch(FRONTEND, "deploy-frontend.yml", "v1.4.1", {"correlation_id": "inc-1"})
    assert dispatched.run_id is not None and dispatched.html_url
    run = await github.run(FRONTEND, dispatched.run_id)
    assert not run.completed and "inc-1" in run.display_title
    clock.advance(120)
    run = await github.run(FRONTEND, dispatched.run_id)
    assert run.completed and run.conclusion == "success"


async def test_a_204_dispatch_is_found_by_its_marker_once_it_is_listed(github, emulator, clock):
    emulator.github.scenario.return_run_details = False
    since = datetime.fromtimestamp(clock.now(), timezone.utc) - timedelta(seconds=1)
    dispatched = await github.dispatch(FRONTEND, "deploy-frontend.yml", "v1.4.1", {"correlation_id": "inc-2"})
    assert dispatched.run_id is None
    assert await github.find_run(FRONTEND, "deploy-frontend.yml", "inc-2", since) is None  # not listed yet
    clock.advance(2)
    found = await github.find_run(FRONTEND, "deploy-frontend.yml", "inc-2", since)
    assert found is not None and "v1.4.1" in found.display_title
    assert await github.find_run(FRONTEND, "deploy-frontend.yml", "inc-other", since) is None


async def test_a_failed_run_is_rerun_and_the_last_success_is_found(github, emulator, clock):
    workflow = next(w for w in emulator.github.repo(FRONTEND).workflows if w.path.endswith("/deploy-frontend.yml"))
    emulator.github.next_outcomes(workflow, Outcome("failure", queued=1, duration=5))
    first = await github.dispatch(FRONTEND, "deploy-frontend.yml", "v1.4.2", {"correlation_id": "inc-3"})
    clock.advance(30)
    assert (await github.run(FRONTEND, first.run_id)).conclusion == "failure"
    await github.rerun(FRONTEND, first.run_id)
    clock.advance(120)
    run = await github.run(FRONTEND, first.run_id)
    assert run.completed and run.conclusion == "success"
    last = await github.last_successful_run(FRONTEND, "deploy-frontend.yml")
    assert last is not None and last.id == first.run_id


async def test_an_issue_is_found_by_its_marker_right_after_creation(github):
    created = await github.create_issue(FRONTEND, "Root cause: inc-4", "summary\n<!-- incident inc-4 -->",
                                        ["incident"])
    found = await github.find_issue(FRONTEND, "<!-- incident inc-4 -->", ["incident"])
    assert found == created
    assert await github.find_issue(FRONTEND, "<!-- incident inc-5 -->", ["incident"]) is None


async def test_refusals_are_permanent_and_never_show_the_token(github, emulator):
    with pytest.raises(UpstreamRefused) as refused:
        await github.dispatch(FRONTEND, "deploy-frontend.yml", "v9.9.9", {"correlation_id": "inc-6"})
    assert refused.value.status == 422 and "No ref found" in str(refused.value)
    with pytest.raises(UpstreamRefused) as missing:
        await github.dispatch(FRONTEND, "nope.yml", "v1.4.1", {})
    assert missing.value.status == 404
    assert emulator.github.token not in str(refused.value) + str(missing.value)


async def test_a_bad_token_is_refused_with_a_hint(emulator):
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=emulator.ca_path)) as http:
        async def token() -> str:
            return "ghs_notAValidTokenAtAll000000000000000"
        with pytest.raises(UpstreamRefused) as refused:
            await GitHub(http, emulator.github_url, token).run(FRONTEND, 1)
    assert refused.value.status == 401 and "token" in str(refused.value)
    assert "ghs_notAValid" not in str(refused.value)


async def test_a_secondary_rate_limit_is_temporary_with_github_s_delay(github, emulator):
    emulator.github.secondary_limit(r"/issues$", retry_after=42)
    with pytest.raises(UpstreamUnavailable) as limited:
        await github.create_issue(FRONTEND, "t", "b", [])
    assert limited.value.delay == 42


async def test_an_unreachable_github_is_temporary():
    async with httpx.AsyncClient() as http:
        async def token() -> str:
            return "x"
        with pytest.raises(UpstreamUnavailable):
            await GitHub(http, "https://127.0.0.1:9", token, timeout=2).run(FRONTEND, 1)


def test_a_repository_must_be_owner_slash_name():
    assert split_repository("augeo/frontend") == ("augeo", "frontend")
    for bad in ("augeo", "augeo/", "/frontend", "a/b/c"):
        with pytest.raises(ConfigurationError):
            split_repository(bad)
