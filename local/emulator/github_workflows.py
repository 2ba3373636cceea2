"""The GitHub Actions model of the stand-in: workflow files (their dispatch inputs and `run-name`), how runs
end (`Outcome`), and runs whose attempts move queued -> in_progress -> completed on the emulator's clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from local.emulator.github_api import Account, Repo, next_id

STATUSES = {"requested", "queued", "in_progress", "completed", "waiting", "pending"}
CONCLUSIONS = {"success", "failure", "cancelled", "timed_out", "neutral", "skipped", "action_required", "stale",
               "startup_failure"}
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_PATH = re.compile(r"^(inputs|github\.event\.inputs)\.([A-Za-z_][A-Za-z0-9_-]*)$|^github\.(ref|ref_name|sha|actor|"
                   r"event_name|workflow|run_number|repository)$")


@dataclass
class WorkflowInput:
    """One `on.workflow_dispatch.inputs` entry of a workflow file."""

    type: str = "string"  # string | boolean | choice | number | environment
    required: bool = False
    default: str | None = None
    options: tuple[str, ...] = ()


@dataclass
class WorkflowFile:
    """The workflow file as it is at one commit: its dispatch inputs and `run-name` (None: the run is titled
    with the workflow's name); `dispatchable`: it has an `on: workflow_dispatch` trigger at all."""

    inputs: dict[str, WorkflowInput] = field(default_factory=dict)
    run_name: str | None = None
    dispatchable: bool = True

    def __post_init__(self) -> None:
        for expression in _EXPRESSION.findall(self.run_name or ""):
            if not _PATH.match(expression):
                raise ValueError(f"run-name expression {expression!r} is not one the stand-in renders "
                                 f"(inputs.<name>, github.event.inputs.<name>, github.ref, github.ref_name, ...)")


@dataclass(frozen=True)
class Outcome:
    """How a run attempt ends: its conclusion, seconds queued, seconds running (None: until `finish`)."""

    conclusion: str = "success"
    queued: float = 0.05
    duration: float | None = 0.2

    def __post_init__(self) -> None:
        if self.conclusion not in CONCLUSIONS:
            raise ValueError(f"unknown conclusion {self.conclusion!r} (known: {', '.join(sorted(CONCLUSIONS))})")


@dataclass
class Workflow:
    repo: Repo
    file: str  # the file name under .github/workflows, which is also how callers may name it
    name: str
    definition: WorkflowFile
    at_ref: dict[str, WorkflowFile | None] = field(default_factory=dict)  # the file at other refs (None: absent)
    outcome: Outcome = Outcome()
    upcoming: list[Outcome] = field(default_factory=list)  # outcomes of the next attempts, in order
    state: str = "active"  # or "disabled_manually"
    id: int = field(default_factory=next_id)
    created: float = 0.0
    run_numbers: int = 0

    @property
    def path(self) -> str:
        return f".github/workflows/{self.file}"

    def file_at(self, short_ref: str) -> WorkflowFile | None:
        return self.at_ref[short_ref] if short_ref in self.at_ref else self.definition

    def next_outcome(self) -> Outcome:
        return self.upcoming.pop(0) if self.upcoming else self.outcome


@dataclass
class Attempt:
    number: int
    requested: float
    outcome: Outcome
    finished: float | None = None  # ended by hand (`finish`, a cancel) at this time, with `conclusion`
    conclusion: str | None = None

    def phase(self, now: float) -> tuple[str, str | None, float]:
        """(status, conclusion, time of the last change) at `now`."""
        if self.finished is not None and now >= self.finished:
            return "completed", self.conclusion, self.finished
        started = self.requested + self.outcome.queued
        if now < started:
            return "queued", None, self.requested
        if self.outcome.duration is None or now < started + self.outcome.duration:
            return "in_progress", None, started
        return "completed", self.outcome.conclusion, started + self.outcome.duration

    def completed_at(self, now: float) -> float | None:
        status, _, changed = self.phase(now)
        return changed if status == "completed" else None


@dataclass
class Run:
    workflow: Workflow
    run_number: int
    event: str
    ref: str  # refs/heads/main, refs/tags/v1.4.2
    head_branch: str
    head_sha: str
    inputs: dict[str, str]  # as the run saw them (defaults filled in); never shown in the API, as on GitHub
    file: WorkflowFile  # the workflow file of head_sha, which a re-run uses again
    display_title: str
    actor: Account
    created: float
    listed_from: float
    attempts: list[Attempt]
    id: int = field(default_factory=next_id)

    @property
    def latest(self) -> Attempt:
        return self.attempts[-1]

    def status(self, now: float) -> tuple[str, str | None, float]:
        return self.latest.phase(now)


@dataclass
class Dispatch:
    """One dispatch request as the stand-in saw it, and what it answered (tests assert on these)."""

    workflow: Workflow
    body: Any
    status: int
    run: Run | None


def render(template: str, values: dict[str, str]) -> str:
    return _EXPRESSION.sub(lambda match: values.get(match.group(1).strip(), ""), template)
