"""What every GitHub REST answer of the stand-in shares: the accounts and repositories it knows, GitHub's error
body, and its paging (`per_page`, `page`, and the `Link` header a client must follow).

Shapes follow the official OpenAPI description (github/rest-api-description, api.github.com.2022-11-28) and
its examples (trimmed copies in local/emulator/reference/github/)."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from local.emulator.server import Request, Response

API_VERSION = "2022-11-28"
DOCS = "https://docs.github.com/rest"
WEB = "https://github.com"  # html_url of runs and issues: links for people, never fetched by the app
_ids = itertools.count(30433642001)


def next_id() -> int:
    """A GitHub-sized id (runs, issues, labels and workflows draw from one sequence, so none repeat)."""
    return next(_ids)


def node_id(kind: str, number: int) -> str:
    return f"{kind}_kw{hashlib.sha1(f'{kind}{number}'.encode()).hexdigest()[:16]}"


def sha_of(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Account:
    """A GitHub user or bot; `type` is "User" or "Bot" (a GitHub App's token acts as `<app>[bot]`)."""

    login: str
    id: int
    type: str = "User"

    def body(self, api: str) -> dict[str, Any]:
        url = f"{api}/users/{self.login}"
        return {"login": self.login, "id": self.id, "node_id": node_id("U", self.id),
                "avatar_url": f"https://avatars.githubusercontent.com/u/{self.id}?v=4", "gravatar_id": "",
                "url": url, "html_url": f"{WEB}/{self.login}", "followers_url": f"{url}/followers",
                "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
                "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
                "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos",
                "events_url": f"{url}/events{{/privacy}}", "received_events_url": f"{url}/received_events",
                "type": self.type, "site_admin": False}


@dataclass
class Token:
    """A token the stand-in accepts: whose it is, what it may do (`permissions`: {"actions": "write",
    "issues": "write"}, as a fine-grained token's), and which repositories it sees (None: all)."""

    value: str
    account: Account
    permissions: dict[str, str] = field(default_factory=lambda: {"actions": "write", "issues": "write"})
    repositories: set[str] | None = None

    def sees(self, repo: Repo) -> bool:
        return self.repositories is None or repo.full_name.lower() in self.repositories

    def may(self, permission: str, level: str) -> bool:
        granted = self.permissions.get(permission)
        return granted == "write" or (level == "read" and granted == "read")


@dataclass
class Repo:
    """A repository: its branches and tags (name -> commit SHA), and what the actions and issues modules keep
    for it (workflows with their runs, issues with their labels)."""

    owner: Account
    name: str
    id: int = field(default_factory=next_id)
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    private: bool = True
    has_issues: bool = True
    workflows: list[Any] = field(default_factory=list)
    issues: list[Any] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def resolve(self, ref: str) -> tuple[str, str, str] | None:
        """(full ref, short name, SHA) of a branch or tag name, bare or as `refs/heads/...` / `refs/tags/...`;
        None for anything else. A commit SHA is not a ref: workflow_dispatch takes a branch or a tag only."""
        for prefix, names in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            short = ref[len(prefix):] if ref.startswith(prefix) else ref
            if short in names and (ref == short or ref.startswith(prefix)):
                return prefix + short, short, names[short]
        return None

    def body(self, api: str) -> dict[str, Any]:
        """The minimal repository object runs and issues embed."""
        return {"id": self.id, "node_id": node_id("R", self.id), "name": self.name, "full_name": self.full_name,
                "owner": self.owner.body(api), "private": self.private, "html_url": f"{WEB}/{self.full_name}",
                "description": None, "fork": False, "url": f"{api}/repos/{self.full_name}"}


def github_error(status: int, message: str, doc: str = DOCS, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> Response:
    """GitHub's error body: `{"message", "documentation_url", "status"}` (+ `errors` for a validation)."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    body.update({"documentation_url": doc, "status": str(status)})
    return Response(status, body, headers or {})


def validation_failed(resource: str, field_name: str, code: str, doc: str, message: str | None = None) -> Response:
    error = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return github_error(422, "Validation Failed", doc, errors=[error])


class BadQuery(ValueError):
    """A query parameter the stand-in refuses (422, named)."""


def integer_param(request: Request, name: str, default: int, low: int = 1) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or int(raw) < low:
        # GitHub documents integers here; what it does with others is not written down: refused (strict).
        raise BadQuery(f"{name} must be an integer of at least {low}, got {raw!r}")
    return int(raw)


def paged(items: list[Any], request: Request, api: str) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` and its `Link` header (prev, next, last, first, as GitHub writes it).

    `per_page` defaults to 30 and is cut to 100 (GitHub's documented maximum: more is silently fewer, so a
    client that asks for 200 and does not follow `Link` misses results)."""
    per_page = min(integer_param(request, "per_page", 30), 100)
    page = integer_param(request, "page", 1)
    last = max(1, -(-len(items) // per_page))
    chosen = items[(page - 1) * per_page: page * per_page]
    links = []

    def link(number: int, rel: str) -> str:
        query = {**request.query, "per_page": str(per_page), "page": str(number)}
        return f'<{api}{request.path}?{urlencode(query)}>; rel="{rel}"'

    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    return chosen, ({"Link": ", ".join(links)} if links else {})


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?$")


def _moment(text: str, end_of_day: bool) -> float:
    if _DATE.match(text):
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
        return day + 86399 if end_of_day else day
    if not _MOMENT.match(text):
        # GitHub's search syntax takes YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS with an optional zone; fractions of a
        # second, a space (an unencoded `+` arrives as one) and other forms are refused rather than guessed.
        raise BadQuery(f"{text!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM:SSZ, "
                       f"YYYY-MM-DDTHH:MM:SS+00:00)")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def date_filter(expression: str) -> tuple[float, float]:
    """The [from, to] seconds a search-syntax date filter means: `>=T`, `>T`, `<=T`, `<T`, `A..B` (with `*`),
    or a bare date (that whole day) or time (that second). Times count in whole seconds, as GitHub keeps them."""
    text = expression.strip()
    for operator in (">=", "<=", ">", "<"):
        if text.startswith(operator):
            rest = text[len(operator):]
            if operator == ">=":
                return _moment(rest, False), float("inf")
            if operator == ">":
                return _moment(rest, True) + 1, float("inf")
            if operator == "<=":
                return float("-inf"), _moment(rest, True)
            return float("-inf"), _moment(rest, False) - 1
    if ".." in text:
        low, high = text.split("..", 1)
        return (float("-inf") if low == "*" else _moment(low, False),
                float("inf") if high == "*" else _moment(high, True))
    return _moment(text, False), _moment(text, True)
