"""GitHub Issues as the stand-in serves them: create, list (state, labels, creator, paging) and search.

Where GitHub's behaviour is not written down the stricter choice is made, and said so:
  * search is **eventually consistent**: an issue is found by `/search/issues` only `search_lag` seconds after
    it was created (GitHub indexes asynchronously), so "search for the marker, create if none" run twice in a
    row creates two issues; the repository's issue list (`GET /repos/{o}/{r}/issues`) is consistent at once;
  * a search query must say `is:issue` or `is:pull-request` (`type:` too), as the issues search API has asked
    since its 2025 move to advanced search; a `repo:` the token cannot see is a 422, as GitHub answers;
  * text matches whole words and phrases, case-insensitively, as GitHub's tokenized search does, never
    substrings: the marker `rr-inc-1` does not find an issue that says `rr-inc-12`.
"""

from __future__ import annotations

import re
import shlex
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.emulator.clock import iso_seconds
from local.emulator.github_api import (WEB, Account, BadQuery, Repo, date_filter, github_error, next_id, node_id,
                                       paged, validation_failed)
from local.emulator.server import Request, Response

if TYPE_CHECKING:
    from local.emulator.github import GitHub

DOC_CREATE = "https://docs.github.com/rest/issues/issues#create-an-issue"
DOC_LIST = "https://docs.github.com/rest/issues/issues#list-repository-issues"
DOC_GET = "https://docs.github.com/rest/issues/issues#get-an-issue"
DOC_SEARCH = "https://docs.github.com/rest/search/search#search-issues-and-pull-requests"
TITLE_MAX, BODY_MAX, QUERY_MAX = 256, 65536, 256
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Label:
    name: str
    color: str = "ededed"
    description: str | None = None
    id: int = field(default_factory=next_id)


@dataclass
class Issue:
    repo: Repo
    number: int
    title: str
    body: str | None
    labels: list[Label]
    user: Account
    created: float
    state: str = "open"
    closed: float | None = None
    updated: float = 0.0
    id: int = field(default_factory=next_id)


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def _contains(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return True
    width = len(needle)
    return any(haystack[i:i + width] == needle for i in range(len(haystack) - width + 1))


class Issues:
    def __init__(self, github: GitHub):
        self._github = github
        self.lock = threading.RLock()

    # ----- scenario ----------------------------------------------------------------------------------
    def create(self, repo: Repo, title: str, body: str | None, labels: list[str], user: Account,
               at: float | None = None) -> Issue:
        with self.lock:
            created = float(int(at if at is not None else self._github.clock.now()))
            chosen = []
            for name in labels:  # labels that do not exist yet are created (the caller may push)
                label = repo.labels.setdefault(name.lower(), Label(name))
                if label not in chosen:
                    chosen.append(label)
            issue = Issue(repo, len(repo.issues) + 1, title, body, chosen, user, created, updated=created)
            repo.issues.append(issue)
            return issue

    # ----- routing -----------------------------------------------------------------------------------
    def route(self, request: Request, repo: Repo, rest: str) -> Response | None:
        """Answers for `/repos/{o}/{r}/issues[...]`."""
        if rest in ("", "/") and request.method == "POST":
            return self._create(request, repo)
        if rest in ("", "/") and request.method == "GET":
            return self._list(request, repo)
        if re.fullmatch(r"/\d+", rest) and request.method == "GET":
            number = int(rest[1:])
            issue = next((i for i in repo.issues if i.number == number), None)
            if issue is None:
                return github_error(404, "Not Found", DOC_GET)
            return Response(200, self.body(issue))
        return None

    def body(self, issue: Issue) -> dict[str, Any]:
        api, full = self._github.api_url, issue.repo.full_name
        url = f"{api}/repos/{full}/issues/{issue.number}"
        return {"id": issue.id, "node_id": node_id("I", issue.id), "url": url,
                "repository_url": f"{api}/repos/{full}", "labels_url": f"{url}/labels{{/name}}",
                "comments_url": f"{url}/comments", "events_url": f"{url}/events",
                "html_url": f"{WEB}/{full}/issues/{issue.number}", "number": issue.number, "state": issue.state,
                "title": issue.title, "body": issue.body, "user": issue.user.body(api),
                "labels": [self._label_body(issue.repo, label) for label in issue.labels],
                "assignee": None, "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None,
                "comments": 0, "closed_at": iso_seconds(issue.closed) if issue.closed else None,
                "created_at": iso_seconds(issue.created), "updated_at": iso_seconds(issue.updated),
                "closed_by": None, "author_association": "CONTRIBUTOR",
                "state_reason": "completed" if issue.state == "closed" else None}

    def _label_body(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {"id": label.id, "node_id": node_id("LA", label.id),
                "url": f"{self._github.api_url}/repos/{repo.full_name}/labels/{label.name}", "name": label.name,
                "description": label.description, "color": label.color, "default": False}

    def _create(self, request: Request, repo: Repo) -> Response:
        refusal = self._github.refuse_write(request, "issues", DOC_CREATE)
        if refusal:
            return refusal
        if not repo.has_issues:
            return github_error(410, "Issues are disabled for this repo", DOC_CREATE)
        body = request.body
        if not isinstance(body, dict):
            return github_error(400, "Problems parsing JSON", DOC_CREATE)
        title = body.get("title")
        if isinstance(title, int) and not isinstance(title, bool):
            title = str(title)  # the spec allows a number for a title
        if not isinstance(title, str) or not title.strip():
            return validation_failed("Issue", "title", "missing_field", DOC_CREATE)
        if len(title) > TITLE_MAX:
            return validation_failed("Issue", "title", "custom", DOC_CREATE,
                                     f"title is too long (maximum is {TITLE_MAX} characters)")
        text = body.get("body")
        if text is not None and not isinstance(text, str):
            return validation_failed("Issue", "body", "invalid", DOC_CREATE)
        if text is not None and len(text) > BODY_MAX:
            return validation_failed("Issue", "body", "custom", DOC_CREATE,
                                     f"body is too long (maximum is {BODY_MAX} characters)")
        labels = body.get("labels", [])
        names = []
        for label in labels if isinstance(labels, list) else [None]:
            name = label.get("name") if isinstance(label, dict) else label
            if not isinstance(name, str) or not name:
                return validation_failed("Issue", "labels", "invalid", DOC_CREATE)
            names.append(name)
        limited = self._github.content_limit(request)
        if limited:
            return limited
        issue = self.create(repo, title, text, names, self._github.caller(request).account)
        return Response(201, self.body(issue), {"Location": self.body(issue)["url"]})

    def _list(self, request: Request, repo: Repo) -> Response:
        query = request.query
        try:
            state = query.get("state", "open")
            if state not in ("open", "closed", "all"):
                raise BadQuery(f"state must be open, closed or all, got {state!r}")
            sort, direction = query.get("sort", "created"), query.get("direction", "desc")
            if sort not in ("created", "updated", "comments") or direction not in ("asc", "desc"):
                raise BadQuery("sort must be created, updated or comments; direction asc or desc")
            since = date_filter(">=" + query["since"])[0] if "since" in query else None
            wanted = [name.strip().lower() for name in query.get("labels", "").split(",") if name.strip()]
            with self.lock:
                issues = [i for i in repo.issues if (state == "all" or i.state == state)
                          and all(any(l.name.lower() == w for l in i.labels) for w in wanted)
                          and ("creator" not in query or i.user.login.lower() == query["creator"].lower())
                          and (since is None or i.updated >= since)]
            key = {"created": lambda i: (i.created, i.number), "updated": lambda i: (i.updated, i.number),
                   "comments": lambda i: (0, i.number)}[sort]
            issues.sort(key=key, reverse=direction == "desc")
            page, link = paged(issues, request, self._github.api_url)
        except BadQuery as problem:
            return github_error(422, f"Validation Failed: {problem}", DOC_LIST)
        return Response(200, [self.body(i) for i in page], link)

    # ----- search ------------------------------------------------------------------------------------
    def search(self, request: Request) -> Response:
        q = request.query.get("q")
        if not q:
            return validation_failed("Search", "q", "missing", DOC_SEARCH)
        if len(q) > QUERY_MAX:
            return validation_failed("Search", "q", "invalid", DOC_SEARCH,
                                     f"The search is longer than {QUERY_MAX} characters.")
        try:
            terms = shlex.split(q)
        except ValueError:
            return validation_failed("Search", "q", "invalid", DOC_SEARCH, "The query has an unbalanced quote.")
        token = self._github.caller(request)
        qualifiers: list[tuple[bool, str, str]] = []
        texts: list[tuple[bool, list[str]]] = []
        fields = set()
        for term in terms:
            negated = term.startswith("-") and len(term) > 1
            bare = term[1:] if negated else term
            key, sep, value = bare.partition(":")
            if sep and key.lower() in {"repo", "is", "type", "state", "label", "author", "in", "created"}:
                if key.lower() == "in":
                    fields |= {f.strip().lower() for f in value.split(",")}
                else:
                    qualifiers.append((negated, key.lower(), value))
            else:
                texts.append((negated, _words(bare)))
        kinds = {v.lower() for n, k, v in qualifiers if k in ("is", "type") and not n}
        if not kinds & {"issue", "pr", "pull-request"}:
            return github_error(422, "Query must include 'is:issue' or 'is:pull-request'", DOC_SEARCH)
        repos = []
        for negated, key, value in qualifiers:
            if key == "repo":
                repo = self._github.repos.get(value.lower())
                if repo is None or not token.sees(repo):
                    return validation_failed("Search", "q", "invalid", DOC_SEARCH,
                                             "The listed users and repositories cannot be searched either because "
                                             "the resources do not exist or you do not have permission to view them.")
                repos.append(repo)
        scope = repos or [r for r in self._github.repos.values() if token.sees(r)]
        fields = fields or {"title", "body", "comments"}
        indexed_before = self._github.clock.now() - self._github.scenario.search_lag
        try:
            created = [date_filter(v) for n, k, v in qualifiers if k == "created"]
            with self.lock:
                found = [i for repo in scope for i in repo.issues if i.updated <= indexed_before
                         and "pr" not in kinds and "pull-request" not in kinds
                         and self._matches(i, qualifiers, texts, fields)
                         and all(low <= i.created <= high for low, high in created)]
            sort = request.query.get("sort")
            found.sort(key=(lambda i: i.updated) if sort == "updated" else (lambda i: i.created),
                       reverse=request.query.get("order", "desc") == "desc")
            found = found[:1000]  # "the Search API provides up to 1,000 results for each search"
            page, link = paged(found, request, self._github.api_url)
        except BadQuery as problem:
            return validation_failed("Search", "q", "invalid", DOC_SEARCH, str(problem))
        return Response(200, {"total_count": len(found), "incomplete_results": False,
                              "items": [{**self.body(i), "score": 1.0} for i in page]}, link)

    @staticmethod
    def _matches(issue: Issue, qualifiers: list[tuple[bool, str, str]], texts: list[tuple[bool, list[str]]],
                 fields: set[str]) -> bool:
        for negated, key, value in qualifiers:
            if key == "state" or (key == "is" and value.lower() in ("open", "closed")):
                hit = issue.state == value.lower()
            elif key == "label":
                hit = any(label.name.lower() == value.lower() for label in issue.labels)
            elif key == "author":
                hit = issue.user.login.lower() == value.lower()
            else:
                continue
            if hit == negated:
                return False
        haystacks = [_words(issue.title)] if "title" in fields else []
        if "body" in fields:
            haystacks.append(_words(issue.body))
        for negated, words in texts:
            hit = any(_contains(haystack, words) for haystack in haystacks)
            if hit == negated:
                return False
        return True
