"""The GitHub REST stand-in answers as GitHub does, driven with httpx.AsyncClient as the app will call it (no
SDK): workflow_dispatch with both answers, finding a run by its correlation id when dispatch answered 204, a
run's progression to each conclusion, re-runs, issues and search by a marker, rate limits, and the Static Web
App that serves what its last successful deploy set. Time is a ManualClock: nothing here sleeps."""

from __future__ import annotations

import json
import re
import ssl
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from local.emulator import Emulator, ManualClock, Outcome, WorkflowFile, WorkflowInput
from local.emulator.github_api import Account

REFERENCE = Path(__file__).resolve().parents[2] / "local" / "emulator" / "reference" / "github"
START = datetime(2026, 12, 1, 22, 0, 0, tzinfo=timezone.utc)
PLATFORM, FRONTEND = "augeo/platform", "augeo/frontend"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emulator(clock):
    with Emulator(clock=clock) as emu:
        yield emu


@pytest.fixture
def github(emulator):
    github = emulator.github
    platform = github.add_repo(PLATFORM, branches={"main": "a" * 40})
    github.add_workflow(platform, "migrate.yml", "Database migration",
                        inputs={"target_revision": WorkflowInput(required=True),
                                "correlation_id": WorkflowInput(required=True),
                                "dry_run": WorkflowInput(type="boolean", default="false"),
                                "environment": WorkflowInput(type="choice", options=("staging", "production"),
                                                             default="production")},
                        run_name="Migrate to ${{ inputs.target_revision }} [${{ inputs.correlation_id }}]",
                        outcome=Outcome("success", queued=5, duration=60))
    frontend = github.add_repo(FRONTEND, tags=["v1.4.1", "v1.4.2", "v1.4.3"])
    github.add_workflow(frontend, "deploy-frontend.yml", "Deploy frontend",
                        inputs={"correlation_id": WorkflowInput()},
                        run_name="Deploy ${{ github.ref_name }} [${{ inputs.correlation_id }}]",
                        outcome=Outcome("success", queued=5, duration=60))
    return github


def _client(emulator, **headers) -> httpx.AsyncClient:
    base = {"Authorization": f"Bearer {emulator.github.token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28"}
    base.update(headers)
    return httpx.AsyncClient(base_url=emulator.github_url, headers={k: v for k, v in base.items() if v is not None},
                             verify=ssl.create_default_context(cafile=emulator.ca_path))


@pytest.fixture
async def api(emulator, github):
    async with _client(emulator) as client:
        yield client


MIGRATE = f"/repos/{PLATFORM}/actions/workflows/migrate.yml"


def _dispatch_body(correlation: str = "inc-20261201-a1", **extra) -> dict:
    return {"ref": "main", "inputs": {"target_revision": "0042_orders_v2", "correlation_id": correlation}, **extra}


def _assert_github_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] == message
    assert body["documentation_url"].startswith("https://docs.github.com/")
    assert body["status"] == str(status)


# ----- the front door -------------------------------------------------------------------------------------
async def test_a_missing_or_wrong_token_is_refused_in_githubs_words(emulator, github):
    async with _client(emulator, Authorization=None) as anonymous:
        _assert_github_error(await anonymous.get(f"/repos/{PLATFORM}/actions/runs"), 401, "Requires authentication")
    async with _client(emulator, Authorization="Bearer ghp_stolen0000") as stolen:
        response = await stolen.post(f"{MIGRATE}/dispatches", json=_dispatch_body())
        _assert_github_error(response, 401, "Bad credentials")
        assert set(response.json()) == {"message", "documentation_url", "status"}
    async with _client(emulator, Authorization=f"token {emulator.github.token}") as classic:
        assert (await classic.get(f"/repos/{PLATFORM}")).status_code == 200  # `token <t>` works as on GitHub
    assert not github.dispatches()


async def test_the_api_version_must_be_pinned_to_2022_11_28(emulator, github):
    for version in (None, "2026-03-10", "2021-01-01"):
        async with _client(emulator, **{"X-GitHub-Api-Version": version}) as client:
            response = await client.get(f"/repos/{PLATFORM}")
            assert response.status_code == 400
            assert "X-GitHub-Api-Version" in response.json()["message"]


async def test_a_request_without_user_agent_is_forbidden(emulator, github):
    async with _client(emulator) as client:
        response = await client.get(f"/repos/{PLATFORM}", headers={"User-Agent": ""})
    assert response.status_code == 403 and b"User-Agent" in response.content


async def test_a_repository_the_token_cannot_see_is_not_found_and_a_read_only_token_cannot_dispatch(emulator, github):
    github.add_token("ghp_frontendonly", repositories={FRONTEND})
    github.add_token("ghp_readonly", permissions={"actions": "read", "issues": "read"})
    async with _client(emulator, Authorization="Bearer ghp_frontendonly") as narrow:
        _assert_github_error(await narrow.get(f"/repos/{PLATFORM}/actions/runs"), 404, "Not Found")
    async with _client(emulator, Authorization="Bearer ghp_readonly") as reader:
        assert (await reader.get(f"/repos/{PLATFORM}/actions/runs")).status_code == 200
        _assert_github_error(await reader.post(f"{MIGRATE}/dispatches", json=_dispatch_body()), 403,
                             "Resource not accessible by personal access token")
    assert not github.actions.runs


# ----- dispatch -------------------------------------------------------------------------------------------
async def test_dispatch_with_run_details_answers_200_with_the_run_it_started(api, github):
    response = await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))
    assert response.status_code == 200
    details = response.json()
    assert set(details) == {"workflow_run_id", "run_url", "html_url"}
    assert details["html_url"] == f"https://github.com/{PLATFORM}/actions/runs/{details['workflow_run_id']}"
    run = (await api.get(details["run_url"])).json()
    assert run["id"] == details["workflow_run_id"] and run["status"] == "queued" and run["conclusion"] is None
    assert run["display_title"] == "Migrate to 0042_orders_v2 [inc-20261201-a1]"
    assert run["name"] == "Database migration"  # the workflow's name; the run's own title is display_title
    assert run["event"] == "workflow_dispatch" and run["head_branch"] == "main" and run["head_sha"] == "a" * 40
    assert "inputs" not in run  # GitHub never shows a run's inputs: the title is how a caller recognises it
    (dispatch,) = github.dispatches()
    assert dispatch.status == 200 and dispatch.body["inputs"]["correlation_id"] == "inc-20261201-a1"


async def test_dispatch_without_run_details_answers_204_and_the_run_is_found_by_its_correlation_id(api, github, clock):
    since = datetime.fromtimestamp(clock.now(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    others = await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body("inc-20261201-zz"))
    mine = await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body("inc-20261201-a1"))
    assert mine.status_code == 204 and mine.content == b"" and others.status_code == 204
    query = {"event": "workflow_dispatch", "created": f">={since}"}
    listed = (await api.get(f"{MIGRATE}/runs", params=query)).json()
    assert listed == {"total_count": 0, "workflow_runs": []}  # GitHub creates the run a moment later
    clock.advance(1.5)
    runs = (await api.get(f"{MIGRATE}/runs", params=query)).json()["workflow_runs"]
    assert len(runs) == 2
    found = [r for r in runs if "[inc-20261201-a1]" in r["display_title"]]
    assert len(found) == 1 and found[0]["id"] == github.dispatches()[1].run.id


async def test_github_enterprise_without_run_details_answers_204_even_when_asked(api, github):
    github.scenario.return_run_details = False
    response = await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))
    assert response.status_code == 204 and response.content == b""
    assert github.dispatches()[0].run is not None  # the run started all the same


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"inputs": {"target_revision": "1", "correlation_id": "c", "force": "yes"}}, 422,
     'Unexpected inputs provided: ["force"]'),
    ({"inputs": {"correlation_id": "c"}}, 422, "Required input 'target_revision' not provided"),
    ({"ref": "release/9.9"}, 422, "No ref found for: release/9.9"),
    ({"ref": "a" * 40}, 422, f"No ref found for: {'a' * 40}"),  # a commit is not a ref: a branch or a tag only
    ({"ref": None}, 422, "Invalid request.\n\n\"ref\" wasn't supplied."),
    ({"inputs": {"target_revision": 42, "correlation_id": "c"}}, 422,
     "Invalid request.\n\nFor 'properties/target_revision', 42 is not a string."),
    ({"inputs": {"target_revision": "1", "correlation_id": "c", "dry_run": "yes"}}, 422,
     "Provided value 'yes' for input 'dry_run' is not a valid boolean"),
    ({"inputs": {"target_revision": "1", "correlation_id": "c", "environment": "qa"}}, 422,
     "Provided value 'qa' for input 'environment' not in the list of allowed values"),
    ({"return_run_details": "true"}, 422,
     "Invalid request.\n\nFor 'properties/return_run_details', \"true\" is not a boolean."),
    ({"inputs": {f"extra_{n}": "x" for n in range(11)}}, 422,
     "Invalid request.\n\nFor 'properties/inputs', too many properties (11 > 10)."),
])
async def test_dispatch_refuses_what_github_refuses_and_starts_nothing(api, github, change, status, message):
    body = {**_dispatch_body(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    _assert_github_error(await api.post(f"{MIGRATE}/dispatches", json=body), status, message)
    assert not github.actions.runs and github.dispatches()[0].status == status


async def test_an_unknown_workflow_or_repository_is_not_found(api, github):
    _assert_github_error(await api.post(f"/repos/{PLATFORM}/actions/workflows/Migrate.yml/dispatches",
                                        json=_dispatch_body()), 404, "Not Found")  # file names match exactly
    _assert_github_error(await api.post("/repos/augeo/nope/actions/workflows/migrate.yml/dispatches",
                                        json=_dispatch_body()), 404, "Not Found")
    workflow = github.repo(PLATFORM).workflows[0]
    by_id = await api.post(f"/repos/{PLATFORM}/actions/workflows/{workflow.id}/dispatches", json=_dispatch_body())
    assert by_id.status_code == 204  # the numeric id works as well as the file name


async def test_workflows_are_listed_with_their_id_path_and_state(api, github):
    body = (await api.get(f"/repos/{PLATFORM}/actions/workflows")).json()
    assert body["total_count"] == 1
    (workflow,) = body["workflows"]
    assert (workflow["name"], workflow["path"], workflow["state"]) == \
        ("Database migration", ".github/workflows/migrate.yml", "active")
    assert (await api.get(f"/repos/{PLATFORM}/actions/workflows/{workflow['id']}")).json() == workflow
    github.repo(PLATFORM).workflows[0].state = "disabled_manually"
    _assert_github_error(await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body()), 422,
                         "Cannot trigger a 'workflow_dispatch' on a disabled workflow")


async def test_the_workflow_file_at_the_dispatched_ref_decides_its_inputs(api, github):
    """workflow_dispatch runs the file as it is at that ref: an old tag may predate the trigger or an input."""
    workflow = github.repo(FRONTEND).workflows[0]
    workflow.at_ref = {"v1.4.1": None, "v1.4.2": WorkflowFile({}, "Deploy ${{ github.ref_name }}")}
    deploy = f"/repos/{FRONTEND}/actions/workflows/deploy-frontend.yml/dispatches"
    _assert_github_error(await api.post(deploy, json={"ref": "v1.4.1"}), 422,
                         "Workflow does not have 'workflow_dispatch' trigger")
    _assert_github_error(await api.post(deploy, json={"ref": "v1.4.2", "inputs": {"correlation_id": "c"}}), 422,
                         'Unexpected inputs provided: ["correlation_id"]')
    answer = await api.post(deploy, json={"ref": "refs/tags/v1.4.2", "return_run_details": True})
    run = (await api.get(answer.json()["run_url"])).json()
    assert run["display_title"] == "Deploy v1.4.2" and run["head_branch"] == "v1.4.2"


# ----- runs -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conclusion", ["success", "failure", "cancelled", "timed_out"])
async def test_a_run_moves_queued_in_progress_completed_to_its_conclusion(api, github, clock, conclusion):
    workflow = github.repo(PLATFORM).workflows[0]
    github.next_outcomes(workflow, Outcome(conclusion, queued=10, duration=120))
    details = (await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))).json()
    seen = []
    for step in (0, 11, 60, 60):
        clock.advance(step)
        run = (await api.get(details["run_url"])).json()
        seen.append((run["status"], run["conclusion"]))
    assert seen == [("queued", None), ("in_progress", None), ("in_progress", None), ("completed", conclusion)]
    assert run["updated_at"] > run["created_at"] == run["run_started_at"]


async def test_a_run_without_a_duration_runs_until_the_scenario_ends_it(api, github, clock):
    workflow = github.repo(PLATFORM).workflows[0]
    github.next_outcomes(workflow, Outcome("success", queued=0, duration=None))
    details = (await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))).json()
    clock.advance(3600)
    assert (await api.get(details["run_url"])).json()["status"] == "in_progress"
    github.finish(details["workflow_run_id"], "failure")
    run = (await api.get(details["run_url"])).json()
    assert (run["status"], run["conclusion"]) == ("completed", "failure")


async def test_run_lists_filter_as_github_does(api, github, clock):
    workflow = github.repo(PLATFORM).workflows[0]
    old = github.add_run(workflow, conclusion="failure", days_ago=3, event="push")
    github.next_outcomes(workflow, Outcome("success", queued=0, duration=10))
    await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body())
    clock.advance(30)

    async def ids(**params) -> list[int]:
        response = await api.get(f"/repos/{PLATFORM}/actions/runs", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["workflow_runs"]]

    new = github.dispatches()[0].run.id
    assert await ids() == [new, old.id]  # newest first
    assert await ids(status="completed") == [new, old.id]
    assert await ids(status="failure") == [old.id]  # a conclusion works as a status filter
    assert await ids(event="push") == [old.id]
    assert await ids(created=">=2026-12-01") == [new]
    assert await ids(created="2026-11-27..2026-11-29") == [old.id]
    assert await ids(branch="release") == []
    for bad in ({"status": "succeeded"}, {"created": ">=2026-12-01T21:59:00.123Z"},
                {"created": ">=2026-12-01T21:59:00 00:00"}):  # an unencoded `+` arrives as a space
        response = await api.get(f"/repos/{PLATFORM}/actions/runs", params=bad)
        assert response.status_code == 422 and response.json()["message"].startswith("Validation Failed")


def _links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


async def test_run_lists_page_with_link_headers_and_cut_per_page_to_100(api, github):
    workflow = github.repo(PLATFORM).workflows[0]
    made = {github.add_run(workflow, days_ago=day).id for day in range(1, 6)}
    response = await api.get(f"{MIGRATE}/runs", params={"per_page": 2})
    assert set(_links(response)) == {"next", "last"}
    seen = []
    while True:
        body = response.json()
        assert body["total_count"] == 5 and len(body["workflow_runs"]) <= 2
        seen += [r["id"] for r in body["workflow_runs"]]
        if "next" not in _links(response):
            assert set(_links(response)) == {"prev", "first"}
            break
        response = await api.get(_links(response)["next"])
    assert set(seen) == made and len(seen) == 5
    for day in range(6, 130):
        github.add_run(workflow, days_ago=day)
    many = await api.get(f"{MIGRATE}/runs", params={"per_page": 500})
    assert len(many.json()["workflow_runs"]) == 100 and "next" in _links(many)


async def test_a_rerun_replays_the_run_and_keeps_its_created_at(api, github, clock):
    workflow = github.repo(PLATFORM).workflows[0]
    github.next_outcomes(workflow, Outcome("failure", queued=0, duration=30), Outcome("success", queued=5, duration=30))
    details = (await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))).json()
    first = (await api.get(details["run_url"])).json()
    _assert_github_error(await api.post(f"{details['run_url']}/rerun"), 403, "This workflow is already running")
    workflow.definition = WorkflowFile(workflow.definition.inputs, "Changed later on main: ${{ inputs.correlation_id }}")
    clock.advance(40)
    rerun_at = datetime.fromtimestamp(clock.now(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = await api.post(f"{details['run_url']}/rerun")
    assert response.status_code == 201 and response.json() == {}
    again = (await api.get(details["run_url"])).json()
    assert again["run_attempt"] == 2 and again["status"] == "queued" and again["conclusion"] is None
    assert again["previous_attempt_url"].endswith("/attempts/1")
    for same in ("id", "head_sha", "head_branch", "display_title", "created_at", "run_number"):
        assert again[same] == first[same], same  # the same SHA, ref and workflow file: the old title
    clock.advance(36)
    done = (await api.get(details["run_url"])).json()
    assert (done["status"], done["conclusion"]) == ("completed", "success")
    attempt = (await api.get(f"{details['run_url']}/attempts/1")).json()
    assert (attempt["run_attempt"], attempt["conclusion"]) == (1, "failure")
    since_rerun = (await api.get(f"{MIGRATE}/runs", params={"created": f">={rerun_at}"})).json()
    assert since_rerun["total_count"] == 0  # a re-run is not a new run: created_at stays the original


async def test_a_run_older_than_30_days_cannot_be_rerun(api, github):
    workflow = github.repo(PLATFORM).workflows[0]
    old = github.add_run(workflow, days_ago=31)
    recent = github.add_run(workflow, days_ago=29)
    _assert_github_error(await api.post(f"/repos/{PLATFORM}/actions/runs/{old.id}/rerun"), 403,
                         "Unable to retry this workflow run because it was created over a month ago")
    assert (await api.post(f"/repos/{PLATFORM}/actions/runs/{recent.id}/rerun")).status_code == 201


async def test_cancel_ends_a_running_run_and_refuses_a_completed_one(api, github):
    details = (await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))).json()
    assert (await api.post(f"{details['run_url']}/cancel")).status_code == 202
    run = (await api.get(details["run_url"])).json()
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
    _assert_github_error(await api.post(f"{details['run_url']}/cancel"), 409,
                         "Cannot cancel a workflow run that is completed.")


# ----- issues and search ------------------------------------------------------------------------------------
async def test_creating_an_issue_answers_201_with_its_number_url_and_labels(api, github):
    response = await api.post(f"/repos/{PLATFORM}/issues",
                              json={"title": "Root cause: inc-20261201-a1", "body": "<!-- rr:inc-20261201-a1 -->",
                                    "labels": ["incident", {"name": "rollback"}]})
    assert response.status_code == 201
    issue = response.json()
    assert issue["number"] == 1 and issue["html_url"] == f"https://github.com/{PLATFORM}/issues/1"
    assert [label["name"] for label in issue["labels"]] == ["incident", "rollback"]
    assert issue["user"]["login"] == "rollback-responder[bot]" and issue["state"] == "open"
    assert response.headers["Location"] == issue["url"]
    assert (await api.get(issue["url"])).json()["title"] == "Root cause: inc-20261201-a1"


async def test_the_issue_list_filters_by_state_labels_and_creator_at_once(api, github):
    someone = Account("octocat", 583231)
    github.add_issue(PLATFORM, "Someone else's", labels=["incident"], author=someone)
    github.add_issue(PLATFORM, "Ours, closed", labels=["incident", "rollback"]).state = "closed"
    await api.post(f"/repos/{PLATFORM}/issues", json={"title": "Ours", "labels": ["incident", "rollback"]})

    async def titles(**params) -> list[str]:
        response = await api.get(f"/repos/{PLATFORM}/issues", params=params)
        assert response.status_code == 200, response.text
        return [i["title"] for i in response.json()]

    assert await titles(labels="incident,rollback", creator="rollback-responder[bot]") == ["Ours"]
    assert await titles(labels="incident,rollback", state="all") == ["Ours", "Ours, closed"]
    assert await titles(creator="octocat") == ["Someone else's"]
    assert (await api.get(f"/repos/{PLATFORM}/issues", params={"state": "opened"})).status_code == 422


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"body": "no title"}, "title", "missing_field"),
    ({"title": "   "}, "title", "missing_field"),
    ({"title": "t" * 257}, "title", "custom"),
    ({"title": "ok", "body": "b" * 65537}, "body", "custom"),
    ({"title": "ok", "labels": "incident"}, "labels", "invalid"),
])
async def test_an_issue_github_would_refuse_is_a_validation_failure(api, github, body, field, code):
    response = await api.post(f"/repos/{PLATFORM}/issues", json=body)
    _assert_github_error(response, 422, "Validation Failed")
    assert response.json()["errors"][0]["field"] == field and response.json()["errors"][0]["code"] == code
    assert not github.repo(PLATFORM).issues


async def test_issues_disabled_is_410(api, github):
    github.repo(PLATFORM).has_issues = False
    _assert_github_error(await api.post(f"/repos/{PLATFORM}/issues", json={"title": "x"}), 410,
                         "Issues are disabled for this repo")


async def test_search_finds_an_issue_by_the_marker_in_its_body_once_it_is_indexed(api, github, clock):
    marker = "rr-incident-inc-20261201-a1"
    await api.post(f"/repos/{PLATFORM}/issues", json={"title": "Root cause", "body": f"Timeline...\n\n{marker}"})
    github.add_issue(PLATFORM, "Another", body="rr-incident-inc-20261201-a12", days_ago=1)
    query = {"q": f'repo:{PLATFORM} is:issue "{marker}" in:body'}
    fresh = (await api.get("/search/issues", params=query)).json()
    assert fresh["total_count"] == 0 and fresh["items"] == []  # not indexed yet: search lags behind
    listed = (await api.get(f"/repos/{PLATFORM}/issues")).json()
    assert [i["title"] for i in listed] == ["Root cause", "Another"]  # the list does not lag
    clock.advance(3)
    found = (await api.get("/search/issues", params=query)).json()
    assert found["total_count"] == 1 and found["incomplete_results"] is False
    assert found["items"][0]["number"] == 1 and found["items"][0]["score"] == 1.0
    in_title = (await api.get("/search/issues", params={"q": f'repo:{PLATFORM} is:issue "{marker}" in:title'}))
    assert in_title.json()["total_count"] == 0


@pytest.mark.parametrize(("q", "message"), [
    (f'repo:{PLATFORM} "marker" in:body', "Query must include 'is:issue' or 'is:pull-request'"),
    ('repo:augeo/secret is:issue "marker"', "Validation Failed"),
    ("is:issue " + "x" * 260, "Validation Failed"),
])
async def test_search_refuses_what_github_refuses(api, github, q, message):
    _assert_github_error(await api.get("/search/issues", params={"q": q}), 422, message)


# ----- rate limits ----------------------------------------------------------------------------------------
async def test_rate_limit_headers_count_down_and_a_spent_limit_is_403_until_it_resets(api, github, clock):
    github.scenario.core_limit = 3
    remaining = []
    for _ in range(3):
        response = await api.get(f"/repos/{PLATFORM}")
        assert response.status_code == 200
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert response.headers["x-ratelimit-resource"] == "core" and response.headers["x-ratelimit-limit"] == "3"
    assert remaining == [2, 1, 0]
    spent = await api.get(f"/repos/{PLATFORM}")
    _assert_github_error(spent, 403, f"API rate limit exceeded for user ID {github.bot.id}.")
    assert spent.headers["x-ratelimit-remaining"] == "0" and "Retry-After" not in spent.headers
    assert (await api.get("/search/issues", params={"q": "is:issue x"})).status_code == 200  # search counts apart
    status = (await api.get("/rate_limit")).json()  # asking costs nothing, as on GitHub
    assert status["resources"]["core"]["remaining"] == 0 and status["resources"]["search"]["used"] == 1
    clock.set(float(spent.headers["x-ratelimit-reset"]))
    assert (await api.get(f"/repos/{PLATFORM}")).status_code == 200


@pytest.mark.parametrize("status", [403, 429])
async def test_an_injected_secondary_rate_limit_says_when_to_retry(api, github, status):
    github.secondary_limit(r"^POST /repos/.*/issues$", status=status, retry_after=30)
    limited = await api.post(f"/repos/{PLATFORM}/issues", json={"title": "Root cause"})
    assert limited.status_code == status and limited.headers["Retry-After"] == "30"
    assert "secondary rate limit" in limited.json()["message"]
    assert not github.repo(PLATFORM).issues
    assert (await api.post(f"/repos/{PLATFORM}/issues", json={"title": "Root cause"})).status_code == 201


async def test_creating_content_too_fast_meets_the_secondary_limit(api, github, clock):
    github.scenario.content_per_minute = 2
    statuses = [(await api.post(f"/repos/{PLATFORM}/issues", json={"title": f"n{i}"})).status_code for i in range(3)]
    assert statuses == [201, 201, 403]
    limited = await api.post(f"/repos/{PLATFORM}/issues", json={"title": "again"})
    assert limited.status_code == 403 and int(limited.headers["Retry-After"]) > 0
    clock.advance(61)
    assert (await api.post(f"/repos/{PLATFORM}/issues", json={"title": "later"})).status_code == 201


# ----- shapes ---------------------------------------------------------------------------------------------
def _type(value):
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def _assert_conforms(ours, official, where=""):
    for key, value in ours.items():
        assert key in official, f"{where}{key}: not in the official example"
        if official[key] is None or value is None:
            continue
        assert _type(value) == _type(official[key]), f"{where}{key}: {_type(value)} vs {_type(official[key])}"
        if isinstance(value, dict):
            _assert_conforms(value, official[key], f"{where}{key}.")
        if isinstance(value, list) and value and isinstance(value[0], dict) and official[key]:
            _assert_conforms(value[0], official[key][0], f"{where}{key}[0].")


async def test_runs_and_issues_have_the_official_examples_shape(api, github):
    official_run = json.loads((REFERENCE / "workflow-run.json").read_text())["value"]
    official_issue = json.loads((REFERENCE / "issue.json").read_text())["value"]
    details = (await api.post(f"{MIGRATE}/dispatches", json=_dispatch_body(return_run_details=True))).json()
    run = (await api.get(details["run_url"])).json()
    _assert_conforms(run, official_run)
    assert set(official_run) - set(run) == set()  # and nothing the example has is missing
    issue = (await api.post(f"/repos/{PLATFORM}/issues", json={"title": "t", "labels": ["incident"]})).json()
    _assert_conforms(issue, official_issue)
    assert set(official_issue) - set(issue) <= {"pull_request", "pinned_comment"}  # an issue is not a pull request


# ----- the Static Web App ---------------------------------------------------------------------------------
@pytest.fixture
async def site(emulator, github):
    workflow = github.repo(FRONTEND).workflows[0]
    app = emulator.add_static_web_app("augeo-frontend", workflow, deployed="v1.4.3")
    async with httpx.AsyncClient(base_url=app.url, verify=ssl.create_default_context(cafile=emulator.ca_path)) as web:
        yield app, web


async def _served(web: httpx.AsyncClient) -> str:
    head = await web.head("/")
    page = await web.get("/")
    assert head.status_code == 200 and page.status_code == 200
    meta = re.search(r'<meta name="app-version" content="([^"]+)">', page.text)
    version = (await web.get("/version.json")).json()["version"]
    assert meta and meta.group(1) == version
    return version


async def test_the_static_web_app_serves_the_version_of_its_last_successful_deploy(api, github, clock, site):
    app, web = site
    assert await _served(web) == "v1.4.3"
    workflow = github.repo(FRONTEND).workflows[0]
    deploy = f"/repos/{FRONTEND}/actions/workflows/deploy-frontend.yml/dispatches"
    github.next_outcomes(workflow, Outcome("failure", queued=5, duration=60), Outcome("success", queued=5, duration=60))
    await api.post(deploy, json={"ref": "v1.4.2", "inputs": {"correlation_id": "inc-1"}})
    clock.advance(70)
    assert await _served(web) == "v1.4.3"  # a failed deploy changes nothing
    await api.post(deploy, json={"ref": "v1.4.2", "inputs": {"correlation_id": "inc-1"}})
    clock.advance(30)
    assert await _served(web) == "v1.4.3"  # nor does one still running
    clock.advance(40)
    assert await _served(web) == "v1.4.2"
    previous = github.add_run(workflow, ref="v1.4.1", days_ago=2)  # re-running an older success deploys it again
    assert (await api.post(f"/repos/{FRONTEND}/actions/runs/{previous.id}/rerun")).status_code == 201
    clock.advance(70)
    assert await _served(web) == "v1.4.1" == app.version


async def test_a_new_static_web_app_answers_2xx_with_no_version(emulator, github):
    app = emulator.add_static_web_app("fresh", github.repo(FRONTEND).workflows[0])
    async with httpx.AsyncClient(base_url=app.url, verify=ssl.create_default_context(cafile=emulator.ca_path)) as web:
        assert (await web.head("/")).status_code == 200  # the placeholder page: 2xx proves nothing
        assert "app-version" not in (await web.get("/")).text
        assert (await web.get("/version.json")).status_code == 404
        assert (await web.get("/nope")).status_code == 404
