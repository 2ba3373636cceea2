"""GitHub REST adapter (httpx): dispatch a workflow and follow its run, re-run a run, create and find issues.

The responder reaches GitHub for what it cannot do in Azure itself: run the team's migration and deploy
workflows (runbook: `alembic downgrade` from a runner, the frontend's deploy), and open the root-cause issue.
API version 2022-11-28 is pinned (2026-03-10 is the first breaking one). The token is a secret (Key Vault); it
is registered for redaction the moment it is read, and never appears in a message.

What GitHub does that matters here (../shared/azure-facts-next.md §5, and the emulator's notes):
  * dispatch answers 200 `{workflow_run_id, run_url, html_url}` when asked for run details, else 204: then the
    run is found by a correlation id the workflow shows in its `run-name` (`display_title`), and a new run can
    take a moment to appear in the lists;
  * a re-run reuses the original SHA, ref and workflow file;
  * search lags behind issue creation, so an issue is looked for in the repository's issue list (by label).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from shared.errors import ConfigurationError, UpstreamRefused, UpstreamUnavailable

if TYPE_CHECKING:
    import httpx

API_VERSION = "2022-11-28"


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    status: str  # queued | in_progress | completed (and GitHub's other waiting states)
    conclusion: str | None  # success | failure | cancelled | timed_out | ... once completed
    html_url: str
    display_title: str
    head_sha: str | None
    created_at: datetime | None

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @classmethod
    def of(cls, body: dict[str, Any]) -> WorkflowRun:
        created = body.get("created_at")
        return cls(int(body["id"]), str(body.get("status", "")), body.get("conclusion"), str(body.get("html_url", "")),
                   str(body.get("display_title") or body.get("name") or ""), body.get("head_sha"),
                   datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None)


@dataclass(frozen=True)
class Dispatched:
    """What a dispatch answered: the run, when GitHub gave its details (200), else None (204)."""

    run_id: int | None
    html_url: str | None


@dataclass(frozen=True)
class IssueRef:
    number: int
    html_url: str


def split_repository(full_name: str) -> tuple[str, str]:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise ConfigurationError(f"{full_name!r} is not a GitHub repository (owner/name)")
    return owner, name


class GitHub:
    """One GitHub API endpoint and token, over the app's shared httpx client."""

    def __init__(self, http: httpx.AsyncClient, api_url: str, token: Callable[[], Awaitable[str]],
                 timeout: float = 10.0):
        self._http, self._api_url, self._token, self._timeout = http, api_url.rstrip("/"), token, timeout

    async def _call(self, what: str, method: str, path: str, *, json: Any = None,
                    params: dict[str, Any] | None = None) -> httpx.Response:
        import httpx

        token = await self._token()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": API_VERSION, "User-Agent": "rollback-responder"}
        try:
            response = await self._http.request(method, f"{self._api_url}{path}", json=json, params=params,
                                                headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            raise UpstreamUnavailable(f"{what}: GitHub did not answer within {self._timeout:g} s", delay=15.0) from None
        except httpx.HTTPError as error:
            raise UpstreamUnavailable(f"{what}: GitHub unreachable ({type(error).__name__})", delay=15.0) from None
        if response.status_code < 400:
            return response
        raise _refusal(what, response)

    async def dispatch(self, repository: str, workflow: str, ref: str, inputs: dict[str, str]) -> Dispatched:
        """`POST .../actions/workflows/{workflow}/dispatches`, asking for the run's details."""
        owner, name = split_repository(repository)
        response = await self._call(f"dispatch {workflow} in {repository}", "POST",
                                    f"/repos/{owner}/{name}/actions/workflows/{workflow}/dispatches",
                                    json={"ref": ref, "inputs": inputs, "return_run_details": True})
        if response.status_code == 200 and response.content:
            body = response.json()
            run_id = body.get("workflow_run_id")
            return Dispatched(int(run_id) if run_id is not None else None, body.get("html_url"))
        return Dispatched(None, None)

    async def find_run(self, repository: str, workflow: str, marker: str, since: datetime) -> WorkflowRun | None:
        """The workflow_dispatch run of `workflow` created since `since` whose title shows `marker`."""
        owner, name = split_repository(repository)
        created = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        response = await self._call(f"list the runs of {workflow} in {repository}", "GET",
                                    f"/repos/{owner}/{name}/actions/workflows/{workflow}/runs",
                                    params={"event": "workflow_dispatch", "created": f">={created}", "per_page": 50})
        for body in response.json().get("workflow_runs", []):
            run = WorkflowRun.of(body)
            if marker in run.display_title:
                return run
        return None

    async def run(self, repository: str, run_id: int) -> WorkflowRun:
        owner, name = split_repository(repository)
        response = await self._call(f"read run {run_id} of {repository}", "GET",
                                    f"/repos/{owner}/{name}/actions/runs/{run_id}")
        return WorkflowRun.of(response.json())

    async def last_successful_run(self, repository: str, workflow: str, branch: str | None = None
                                  ) -> WorkflowRun | None:
        owner, name = split_repository(repository)
        params: dict[str, Any] = {"status": "success", "per_page": 1}
        if branch:
            params["branch"] = branch
        response = await self._call(f"list the successful runs of {workflow} in {repository}", "GET",
                                    f"/repos/{owner}/{name}/actions/workflows/{workflow}/runs", params=params)
        runs = response.json().get("workflow_runs", [])
        return WorkflowRun.of(runs[0]) if runs else None

    async def rerun(self, repository: str, run_id: int) -> None:
        owner, name = split_repository(repository)
        await self._call(f"re-run run {run_id} of {repository}", "POST",
                         f"/repos/{owner}/{name}/actions/runs/{run_id}/rerun")

    async def create_issue(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        owner, name = split_repository(repository)
        response = await self._call(f"create an issue in {repository}", "POST", f"/repos/{owner}/{name}/issues",
                                    json={"title": title, "body": body, "labels": labels})
        created = response.json()
        return IssueRef(int(created["number"]), str(created["html_url"]))

    async def find_issue(self, repository: str, marker: str, labels: list[str], pages: int = 5) -> IssueRef | None:
        """An issue (open or closed) with `labels` whose body holds `marker`: the repository's issue list, not
        search, which lags behind creation."""
        owner, name = split_repository(repository)
        params: dict[str, Any] = {"state": "all", "per_page": 100, "sort": "created", "direction": "desc"}
        if labels:
            params["labels"] = ",".join(labels)
        for page in range(1, pages + 1):
            response = await self._call(f"list the issues of {repository}", "GET", f"/repos/{owner}/{name}/issues",
                                        params=params | {"page": page})
            issues = response.json()
            for issue in issues:
                if marker in (issue.get("body") or "") and "pull_request" not in issue:
                    return IssueRef(int(issue["number"]), str(issue["html_url"]))
            if len(issues) < params["per_page"]:
                return None
        return None


def _refusal(what: str, response: httpx.Response) -> Exception:
    """GitHub's answer as the responder's error, in GitHub's words (`message`), never with the token."""
    try:
        said = str(response.json().get("message", ""))[:300]
    except ValueError:
        said = response.text[:300]
    status = response.status_code
    retry_after = _seconds(response.headers.get("Retry-After"))
    limited = status == 429 or (status == 403 and (retry_after is not None
                                                   or response.headers.get("x-ratelimit-remaining") == "0"))
    if limited:
        reset = _reset_in(response.headers.get("x-ratelimit-reset"))
        return UpstreamUnavailable(f"{what}: GitHub's rate limit ({status}: {said})",
                                   delay=min(max(retry_after or reset or 60.0, 1.0), 900.0))
    if status >= 500:
        return UpstreamUnavailable(f"{what}: GitHub answered {status}: {said}", delay=15.0)
    hint = {401: " (the GitHub token is missing, expired or revoked)",
            403: " (the GitHub token lacks the permission)", 404: " (no such repository or workflow, or the token "
                                                                  "cannot see it)"}.get(status, "")
    return UpstreamRefused(f"{what}: GitHub refused ({status}: {said}){hint}", status=status)


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (moment - datetime.now(moment.tzinfo)).total_seconds())


def _reset_in(value: str | None) -> float | None:
    import time

    try:
        return max(0.0, float(value) - time.time()) if value else None
    except ValueError:
        return None
