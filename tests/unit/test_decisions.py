"""The decisions that were tested only end to end, now as plain functions: whether swapping back is safe and
useful, which parameters an API caller may set, who may approve what, how the retry budget counts. No I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from responders import KINDS
from responders.swap_back import Params as SwapBackParams
from responders.swap_back import judge
from shared.decide.callers import APPROVER, Caller
from shared.decide.commands import ActionRequest, approval_refusal, plan_for
from shared.decide.incident import Incident
from shared.decide.plan import Decision, Plan, PlannedStep, after_failure
from shared.decide.releases import Release, same_release
from shared.decide.rules import load_rules
from shared.decide.status import Status
from shared.errors import Escalate, RequestRefused, Waiting

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/augeo-production-api"
CACHE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/Redis/augeo-production-redis"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ALICE = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


# ----- swap_back's precheck ---------------------------------------------------------------------------------
BROKEN, PREVIOUS = Release(version="v1.2.3"), Release(version="v1.2.2")
PARAMS = SwapBackParams(health_attempts=3)


def test_swap_back_goes_ahead_when_staging_is_healthy_and_production_changed_recently():
    assert judge(BROKEN, PREVIOUS, True, "200 in 5 ms", 0, NOW - timedelta(minutes=10), NOW, PARAMS) is None


def test_swap_back_refuses_when_both_slots_run_the_same_release():
    verdict = judge(BROKEN, Release(version="v1.2.3"), True, "200", 0, NOW - timedelta(minutes=10), NOW, PARAMS)
    assert isinstance(verdict, Escalate) and "staging runs the same release as production (v1.2.3)" in str(verdict)


def test_swap_back_does_not_take_unknown_releases_for_the_same():
    unknown = Release()
    assert judge(unknown, unknown, True, "200", 0, NOW - timedelta(minutes=10), NOW, PARAMS) is None


def test_swap_back_probes_an_unhealthy_staging_again_before_giving_up_on_it():
    again = judge(BROKEN, PREVIOUS, False, "503 in 4 ms", 2, NOW - timedelta(minutes=10), NOW, PARAMS)
    assert isinstance(again, Waiting) and "attempt 2/3" in str(again) and again.delay == PARAMS.health_interval
    done = judge(BROKEN, PREVIOUS, False, "503 in 4 ms", 3, NOW - timedelta(minutes=10), NOW, PARAMS)
    assert isinstance(done, Escalate) and "staging slot is also problematic" in str(done)
    assert "redeploy a previous version" in str(done)


@pytest.mark.parametrize("changed_at", [None, NOW - timedelta(hours=25)])
def test_swap_back_refuses_when_production_has_not_changed_recently(changed_at):
    verdict = judge(BROKEN, PREVIOUS, True, "200", 0, changed_at, NOW, PARAMS)
    assert isinstance(verdict, Escalate) and "production has not changed" in str(verdict)


@pytest.mark.parametrize(("a", "b", "same"), [
    (Release(version="v1"), Release(version="v1", image="x:latest"), True),
    (Release(version="v1", image="x:v9"), Release(version="v2", image="x:v9"), False),  # the process wins
    (Release(image="x:latest"), Release(image="x:latest"), None),  # a reused tag proves nothing
    (Release(image="x@sha256:ab"), Release(image="x@sha256:ab"), True),  # a digest does
    (Release(image="x:v1"), Release(image="x:v2"), False),
    (Release(image="x:latest", deployment="d1"), Release(image="x:latest", deployment="d2"), False),
    (Release(deployment="d1"), Release(deployment="d1"), True),
    (Release(), Release(version="v1"), None),
])
def test_releases_are_compared_on_the_strongest_evidence_both_slots_give(a, b, same):
    assert same_release(a, b) is same and same_release(b, a) is same


# ----- the command API: what a caller may set ---------------------------------------------------------------
RULES = load_rules(f"""
version: 1
targets:
  - resource: {CACHE}
    params: {{flush_cache: {{port: 6380, secret_name: redis-access-key}}}}
""", KINDS)


def test_an_api_caller_chooses_what_to_do_and_the_rules_file_where_to_connect():
    plan = plan_for(ActionRequest(action="flush_cache", target=CACHE, params={"patterns": ["session:*"]},
                                  reason="stale sessions"), KINDS, RULES)
    assert plan.steps[0].params == {"patterns": ["session:*"], "port": 6380, "secret_name": "redis-access-key"}


@pytest.mark.parametrize("params", [{"host": "evil.example.com"}, {"secret_name": "someone-elses"},
                                    {"patterns": ["session:*"], "port": 1}])
def test_an_api_caller_may_not_say_where_credentials_go(params):
    with pytest.raises(RequestRefused) as refused:
        plan_for(ActionRequest(action="flush_cache", target=CACHE, params=params, reason="because"), KINDS, RULES)
    assert refused.value.status == 422
    assert "not settable through the API" in refused.value.message
    assert "flush_cache accepts: database, mode, patterns" in refused.value.message


def test_an_unknown_action_names_every_known_one():
    with pytest.raises(RequestRefused) as refused:
        plan_for(ActionRequest(action="reboot", target=SITE, reason="because"), KINDS, RULES)
    assert f"(known: {', '.join(sorted(KINDS))})" in refused.value.message


# ----- approvals ------------------------------------------------------------------------------------------------
def _awaiting(destructive: bool, requester: str = f"{TENANT}/{ALICE}", **fields) -> Incident:
    step = PlannedStep(kind="flush_cache", target=CACHE, destructive=destructive)
    return Incident(id="inc-20261201-030000000-abcdef", source="command", fingerprint="f", alert_rule="r",
                    reason="r", status=Status.AWAITING_APPROVAL, requester_id=requester,
                    plan=Plan(decision=Decision.AWAIT_APPROVAL, reason="r", steps=(step,)), started_at=NOW,
                    updated_at=NOW, approval_expires_at=NOW + timedelta(minutes=30), **fields)


def _caller(object_id: str) -> Caller:
    return Caller(TENANT, object_id, "someone", frozenset({APPROVER}), "bearer token")


@pytest.mark.parametrize("recorded", [f"{TENANT}/{ALICE}", f"{TENANT.upper()}/{{{ALICE.upper()}}}", ALICE.upper()])
def test_the_requester_of_a_destructive_action_may_not_approve_it_however_the_id_is_spelled(recorded):
    refusal = approval_refusal(_awaiting(True, recorded), _caller(ALICE), NOW)
    assert refusal is not None and refusal.status == 403 and refusal.code == "self_approval"


def test_another_approver_may_and_so_may_the_requester_of_what_destroys_nothing():
    assert approval_refusal(_awaiting(True), _caller("11111111-2222-4333-8444-555555555555"), NOW) is None
    assert approval_refusal(_awaiting(False), _caller(ALICE), NOW) is None


def test_an_approval_too_late_twice_or_for_nothing_waiting_is_refused():
    other = _caller("11111111-2222-4333-8444-555555555555")
    assert approval_refusal(_awaiting(True), other, NOW + timedelta(minutes=31)).code == "approval_expired"
    assert approval_refusal(_awaiting(True, approved_at=NOW, approved_by="bob"), other, NOW).status == 409
    assert approval_refusal(_awaiting(True).model_copy(update={"status": Status.RUNNING}), other, NOW).status == 409


# ----- the retry budget ---------------------------------------------------------------------------------------------
def test_a_step_is_retried_while_its_failures_stay_within_the_budget():
    assert [after_failure(n, 2).give_up for n in range(4)] == [False, False, True, True]
    assert after_failure(0, 2).retries == 1
    assert after_failure(0, 0).give_up  # no retries allowed: the first failure ends it
