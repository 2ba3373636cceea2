"""A GitHub REST API stand-in (api.github.com, version 2022-11-28) over HTTPS, as strict as GitHub.

The front door answers as GitHub does before any endpoint runs: a request without `User-Agent` is refused
(403, GitHub's words), a wrong token is `401 Bad credentials`, no token `401 Requires authentication`, a
repository the token cannot see is `404 Not Found` (GitHub never says it exists), and every answer carries
the rate-limit headers (`x-ratelimit-limit/-remaining/-used/-reset/-resource`) of the token's window (core:
5,000 an hour; search: 30 a minute), with `403 API rate limit exceeded` once it is spent. Content creation
(issues) past `content_per_minute` (80) is a secondary rate limit: `403` with `Retry-After`, as documented;
`secondary_limit()` injects one anywhere (403 or 429).

Strict choices where GitHub leaves room (each said where it is made):
  * `X-GitHub-Api-Version` is required and must be 2022-11-28: GitHub would default a missing header to
    2022-11-28, but an app that does not pin the version it was written for breaks when the default moves, and
    2026-03-10 (the first breaking version) is not modelled here, so it is refused rather than served wrong;
  * see github_actions.py (runs listed late, no inputs on runs, strict input types) and github_issues.py
    (search lags, needs `is:issue`, matches words).

    github = GitHub(clock, servers...)          # usually through Emulator.github
    repo = github.add_repo("augeo/frontend", tags={"v1.4.2": ..., "v1.4.3": ...})
    github.add_workflow(repo, "deploy-frontend.yml", "Deploy frontend", inputs={"version": WorkflowInput(required=True)},
                        run_name="Deploy ${{ inputs.version }} [${{ inputs.correlation_id }}]")
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from local.emulator.clock import Clock
from local.emulator.github_actions import Actions
from local.emulator.github_workflows import Outcome, Run, Workflow, WorkflowFile, WorkflowInput
from local.emulator.github_api import (API_VERSION, DOCS, Account, Repo, Token, github_error, next_id, sha_of)
from local.emulator.github_issues import Issue, Issues
from local.emulator.server import Fault, Recorder, Request, Response

DEFAULT_TOKEN = "ghs_emulatorRollbackResponderToken0001"
_REPO = re.compile(r"^/repos/(?P<owner>[A-Za-z0-9-]+)/(?P<name>[A-Za-z0-9._-]+)(?P<rest>/.*)?$")
DOC_RATE = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
DOC_SECONDARY = DOC_RATE + "#about-secondary-rate-limits"
DOC_VERSIONS = "https://docs.github.com/rest/about-the-rest-api/api-versions"


@dataclass
class GitHubScenario:
    """What the tests set about GitHub as a whole."""

    return_run_details: bool = True  # False: dispatch answers 204 even when asked (older GitHub Enterprise Server)
    run_list_lag: float = 1.0  # seconds before a dispatched run shows in the run lists
    search_lag: float = 2.0  # seconds before a new issue is found by search
    core_limit: int = 5000  # requests an hour per token (primary rate limit)
    search_limit: int = 30  # search requests a minute per token
    content_per_minute: int = 80  # content-creating requests (issues) a minute before a secondary limit
    primary_status: int = 403  # GitHub answers a spent primary limit with 403 (or 429)


@dataclass
class _Window:
    limit: int
    seconds: float
    reset: float = 0.0
    used: int = 0


@dataclass
class _Tokens:
    by_value: dict[str, Token] = field(default_factory=dict)
    windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    content: dict[str, deque[float]] = field(default_factory=dict)


class GitHub:
    def __init__(self, clock: Clock, recorder: Recorder, api_url: Callable[[], str]):
        self.clock = clock
        self._recorder = recorder
        self._api_url = api_url
        self.scenario = GitHubScenario()
        self.repos: dict[str, Repo] = {}
        self._tokens = _Tokens()
        self.lock = threading.RLock()
        self.actions = Actions(self)
        self.issues = Issues(self)
        self.bot = Account("rollback-responder[bot]", next_id(), "Bot")
        self.token = self.add_token(DEFAULT_TOKEN, self.bot).value

    @property
    def api_url(self) -> str:
        return self._api_url()

    # ----- scenario set-up -------------------------------------------------------------------------
    def add_token(self, value: str, account: Account | None = None, permissions: dict[str, str] | None = None,
                  repositories: set[str] | None = None) -> Token:
        """A token GitHub accepts (permissions as a fine-grained token's: {"actions": "write", "issues":
        "read"}; `repositories`: the full names it may see, None for all)."""
        token = Token(value, account or Account(f"user{len(self._tokens.by_value)}", next_id()),
                      permissions if permissions is not None else {"actions": "write", "issues": "write"},
                      {r.lower() for r in repositories} if repositories is not None else None)
        self._tokens.by_value[value] = token
        return token

    def add_repo(self, full_name: str, *, branches: dict[str, str] | None = None,
                 tags: dict[str, str] | list[str] | None = None, has_issues: bool = True) -> Repo:
        """A repository with its branches and tags (name -> SHA; a list of tag names gets SHAs made up)."""
        owner, _, name = full_name.partition("/")
        tag_map = {t: sha_of(f"{full_name}@{t}") for t in tags} if isinstance(tags, list) else dict(tags or {})
        repo = Repo(Account(owner, next_id(), "Organization"), name,
                    branches=branches or {"main": sha_of(f"{full_name}@main")}, tags=tag_map, has_issues=has_issues)
        with self.lock:
            self.repos[full_name.lower()] = repo
        return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def add_workflow(self, repo: Repo | str, file: str, name: str, *, inputs: dict[str, WorkflowInput] | None = None,
                     run_name: str | None = None, outcome: Outcome | None = None, dispatchable: bool = True,
                     at_ref: dict[str, WorkflowFile | None] | None = None) -> Workflow:
        """A workflow file `.github/workflows/<file>`; `run_name` is its `run-name:` template (say
        `Deploy ${{ inputs.version }} [${{ inputs.correlation_id }}]`); `outcome`: how its runs end unless
        `next_outcomes` says otherwise; `at_ref`: the file as it is at other branches or tags (None: absent)."""
        repo = self.repo(repo) if isinstance(repo, str) else repo
        workflow = Workflow(repo, file, name, WorkflowFile(dict(inputs or {}), run_name, dispatchable),
                            dict(at_ref or {}), outcome or Outcome(), created=self.clock.now() - 90 * 86400)
        with self.lock:
            repo.workflows.append(workflow)
        return workflow

    def next_outcomes(self, workflow: Workflow, *outcomes: Outcome | str) -> None:
        """The next run attempts of `workflow` end so, in order (a conclusion name, or an Outcome)."""
        workflow.upcoming.extend(Outcome(o) if isinstance(o, str) else o for o in outcomes)

    def add_run(self, workflow: Workflow, *, ref: str | None = None, inputs: dict[str, str] | None = None,
                conclusion: str = "success", days_ago: float = 1.0, event: str = "workflow_dispatch") -> Run:
        """A run that happened before the test (history: the last successful deploy, an old run past the
        30-day re-run window), completed with `conclusion`."""
        at = self.clock.now() - days_ago * 86400
        return self.actions.create_run(workflow, ref=ref or workflow.repo.default_branch, inputs=dict(inputs or {}),
                                       actor=self.bot, event=event, outcome=Outcome(conclusion, 5, 120), at=at,
                                       listed=True)

    def finish(self, run: Run | int, conclusion: str = "success") -> None:
        """End a run's current attempt now (for outcomes with `duration=None`)."""
        self.actions.finish(self.actions.runs[run] if isinstance(run, int) else run, conclusion)

    def add_issue(self, repo: Repo | str, title: str, body: str = "", labels: list[str] | None = None,
                  author: Account | None = None, days_ago: float = 0.0) -> Issue:
        repo = self.repo(repo) if isinstance(repo, str) else repo
        return self.issues.create(repo, title, body, labels or [], author or self.bot,
                                  at=self.clock.now() - days_ago * 86400)

    def secondary_limit(self, pattern: str = r".", *, status: int = 403, retry_after: int | None = 60,
                        times: int | None = 1) -> Fault:
        """The next `times` requests matching `pattern` (`METHOD path`) meet a secondary rate limit."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                           "again. If you reach out to GitHub Support for help, please include the request ID "
                           f"{uuid.uuid4().hex[:20].upper()}.",
                "documentation_url": DOC_SECONDARY, "status": str(status)}
        fault = Fault(pattern, status=status, headers=headers, body=body, times=times, server="github")
        self._recorder.faults.append(fault)
        return fault

    def dispatches(self, workflow: Workflow | None = None) -> list:
        return [d for d in self.actions.dispatches if workflow is None or d.workflow is workflow]

    # ----- used by the endpoint modules ----------------------------------------------------------------
    def caller(self, request: Request) -> Token:
        """The token of an authenticated request (the front door has checked it)."""
        return self._tokens.by_value[_bearer(request) or ""]

    def refuse_write(self, request: Request, permission: str, doc: str) -> Response | None:
        if not self.caller(request).may(permission, "write"):
            return github_error(403, "Resource not accessible by personal access token", doc)
        return None

    def content_limit(self, request: Request) -> Response | None:
        """A secondary rate limit once a token creates more than `content_per_minute` items in a minute."""
        now = self.clock.now()
        with self.lock:
            recent = self._tokens.content.setdefault(self.caller(request).value, deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= self.scenario.content_per_minute:
                wait = int(recent[0] + 60 - now) + 1
                return github_error(403, "You have exceeded a secondary rate limit and have been temporarily "
                                         "blocked from content creation. Please retry your request again later.",
                                    DOC_SECONDARY, {"Retry-After": str(wait)})
            recent.append(now)
        return None

    # ----- the front door ------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        response = self._answer(request)
        response.headers.setdefault("x-github-request-id", uuid.uuid4().hex[:24].upper())
        response.headers.setdefault("x-github-media-type", "github.v3; format=json")
        return response

    def _answer(self, request: Request) -> Response:
        if not request.header("User-Agent"):
            return Response(403, b"Request forbidden by administrative rules. Please make sure your request has a "
                                 b"User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-"
                                 b"rest-api#user-agent-required). Check https://developer.github.com for other "
                                 b"possible causes.\n", {"Content-Type": "text/plain; charset=utf-8"})
        version = request.header("X-GitHub-Api-Version")
        if version != API_VERSION:
            shown = version if version is not None else "(missing)"
            return github_error(400, f"Unsupported 'X-GitHub-Api-Version' header value: {shown}. The emulated "
                                     f"API serves {API_VERSION} only; send it explicitly.", DOC_VERSIONS)
        value = _bearer(request)
        if value is None:
            return github_error(401, "Requires authentication", DOCS)
        token = self._tokens.by_value.get(value)
        if token is None:
            return github_error(401, "Bad credentials", DOCS)
        if request.path == "/rate_limit" and request.method == "GET":
            return Response(200, self._rate_limit_body(token))  # never counts against the limit
        resource = "search" if request.path.startswith("/search/") else "core"
        window, spent = self._count(token, resource)
        headers = {"x-ratelimit-limit": str(window.limit), "x-ratelimit-remaining": str(max(0, window.limit - window.used)),
                   "x-ratelimit-reset": str(int(window.reset)), "x-ratelimit-used": str(min(window.used, window.limit)),
                   "x-ratelimit-resource": resource, "X-GitHub-Api-Version-Selected": API_VERSION}
        if spent:
            response = github_error(self.scenario.primary_status,
                                    f"API rate limit exceeded for user ID {token.account.id}.", DOC_RATE)
        else:
            response = self._endpoint(request, token)
        response.headers = {**headers, **response.headers}
        return response

    def _count(self, token: Token, resource: str) -> tuple[_Window, bool]:
        now = self.clock.now()
        limit, seconds = ((self.scenario.search_limit, 60.0) if resource == "search"
                          else (self.scenario.core_limit, 3600.0))
        with self.lock:
            window = self._tokens.windows.setdefault((token.value, resource), _Window(limit, seconds))
            window.limit = limit
            if now >= window.reset:
                window.reset, window.used = float(int(now + seconds)), 0
            window.used += 1
            return window, window.used > window.limit

    def _rate_limit_body(self, token: Token) -> dict[str, Any]:
        resources = {}
        for resource in ("core", "search"):
            window = self._tokens.windows.get((token.value, resource))
            limit = self.scenario.search_limit if resource == "search" else self.scenario.core_limit
            used = window.used if window and self.clock.now() < window.reset else 0
            reset = int(window.reset) if window else int(self.clock.now())
            resources[resource] = {"limit": limit, "used": min(used, limit), "remaining": max(0, limit - used),
                                   "reset": reset, "resource": resource}
        return {"resources": resources, "rate": resources["core"]}

    def _endpoint(self, request: Request, token: Token) -> Response:
        if request.path == "/search/issues" and request.method == "GET":
            return self.issues.search(request)
        match = _REPO.match(request.path)
        if match:
            repo = self.repos.get(f"{match['owner']}/{match['name']}".lower())
            if repo is None or not token.sees(repo):
                return github_error(404, "Not Found", "https://docs.github.com/rest/repos/repos#get-a-repository")
            rest = match["rest"] or ""
            response = None
            if rest == "" and request.method == "GET":
                response = Response(200, {**repo.body(self.api_url), "default_branch": repo.default_branch,
                                          "has_issues": repo.has_issues})
            elif rest.startswith("/actions/"):
                if not token.may("actions", "read"):
                    return github_error(403, "Resource not accessible by personal access token", DOCS)
                response = self.actions.route(request, repo, rest[len("/actions"):])
            elif rest == "/issues" or rest.startswith("/issues/"):
                if not token.may("issues", "read"):
                    return github_error(403, "Resource not accessible by personal access token", DOCS)
                response = self.issues.route(request, repo, rest[len("/issues"):])
            if response is not None:
                return response
        return github_error(404, "Not Found", DOCS)


def _bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <t>` or `Authorization: token <t>` (GitHub takes both)."""
    header = request.header("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") and value.strip() else ""


__all__ = ["DEFAULT_TOKEN", "GitHub", "GitHubScenario", "Outcome", "Workflow", "WorkflowFile", "WorkflowInput"]
