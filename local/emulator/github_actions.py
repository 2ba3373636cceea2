"""GitHub Actions as the stand-in serves it: workflows, `workflow_dispatch` (200 with run details, or 204),
runs that move queued -> in_progress -> completed on the emulator's clock, re-runs and cancels.

Where GitHub's behaviour is not written down the stricter choice is made, and said so:
  * a dispatched run shows in the run lists only `run_list_lag` seconds after the dispatch (GitHub creates it
    asynchronously: a client that lists at once finds nothing and must look again); `GET .../runs/{id}` knows it
    at once (dispatch answered its id);
  * the run object carries no inputs (GitHub's does not): a dispatch answered 204 is found by the run's
    `display_title`, rendered from the workflow's `run-name` (`name` is the workflow's name, not the run's);
  * input values must be strings (the 2022-11-28 schema's `additionalProperties: string`), booleans "true" /
    "false", choices one of the options; a `status` or `created` filter GitHub would not understand is a 422;
  * a re-run replays the run as it was (its SHA, ref, inputs and the workflow file of that SHA), keeps the
    run's `created_at` (so a `created>=` filter after the re-run does not see it again) and takes the next
    outcome the scenario queued.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from local.emulator.clock import iso_seconds
from local.emulator.github_api import WEB, Account, BadQuery, Repo, date_filter, github_error, node_id, paged, sha_of
from local.emulator.github_workflows import (CONCLUSIONS, STATUSES, Attempt, Dispatch, Outcome, Run, Workflow,
                                             WorkflowInput, render)
from local.emulator.server import Request, Response

if TYPE_CHECKING:
    from local.emulator.github import GitHub

DOC_DISPATCH = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
DOC_RUNS = "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository"
DOC_RUN = "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run"
DOC_RERUN = "https://docs.github.com/rest/actions/workflow-runs#re-run-a-workflow"
DOC_CANCEL = "https://docs.github.com/rest/actions/workflow-runs#cancel-a-workflow-run"
DOC_WORKFLOW = "https://docs.github.com/rest/actions/workflows#get-a-workflow"
MAX_INPUTS = 10  # the documented limit; later raises are reported but not confirmed here, so the stricter one
RERUN_DAYS = 30
MAX_ATTEMPTS = 50


class Actions:
    def __init__(self, github: GitHub):
        self._github = github
        self.runs: dict[int, Run] = {}
        self.dispatches: list[Dispatch] = []
        self.lock = threading.RLock()

    # ----- scenario ----------------------------------------------------------------------------------
    def create_run(self, workflow: Workflow, *, ref: str, inputs: dict[str, str], actor: Account, event: str,
                   outcome: Outcome | None = None, at: float | None = None, listed: bool = False) -> Run:
        """A run of `workflow` at `ref` (a branch or tag of its repository) requested at `at` (now)."""
        resolved = workflow.repo.resolve(ref)
        if resolved is None:
            raise ValueError(f"{workflow.repo.full_name} has no branch or tag {ref!r}")
        full_ref, short, sha = resolved
        now = self._github.clock.now()
        created = float(int(at if at is not None else now))
        file = workflow.file_at(short) or workflow.definition
        workflow.run_numbers += 1
        context = {"github.ref": full_ref, "github.ref_name": short, "github.sha": sha,
                   "github.actor": actor.login, "github.event_name": event, "github.workflow": workflow.name,
                   "github.run_number": str(workflow.run_numbers), "github.repository": workflow.repo.full_name}
        context.update({f"inputs.{k}": v for k, v in inputs.items()})
        context.update({f"github.event.inputs.{k}": v for k, v in inputs.items()})
        title = render(file.run_name, context) if file.run_name else workflow.name
        lag = 0.0 if listed else self._github.scenario.run_list_lag
        run = Run(workflow, workflow.run_numbers, event, full_ref, short, sha, dict(inputs), file, title, actor,
                  created, created + lag, [Attempt(1, created, outcome or workflow.next_outcome())])
        with self.lock:
            self.runs[run.id] = run
        return run

    def finish(self, run: Run, conclusion: str) -> None:
        if conclusion not in CONCLUSIONS:
            raise ValueError(f"unknown conclusion {conclusion!r}")
        with self.lock:
            attempt = run.latest
            if attempt.phase(self._github.clock.now())[0] != "completed":
                attempt.finished, attempt.conclusion = self._github.clock.now(), conclusion

    # ----- routing -----------------------------------------------------------------------------------
    def route(self, request: Request, repo: Repo, rest: str) -> Response | None:
        """Answers for `/repos/{o}/{r}/actions/...` (`rest` is the part after `/actions`)."""
        method = request.method
        parts = rest.strip("/").split("/")
        if parts == ["workflows"] and method == "GET":
            return self._list_workflows(request, repo)
        if len(parts) >= 2 and parts[0] == "workflows":
            workflow = self._workflow(repo, parts[1])
            if workflow is None:
                return github_error(404, "Not Found", DOC_WORKFLOW)
            if len(parts) == 2 and method == "GET":
                return Response(200, self._workflow_body(workflow))
            if parts[2:] == ["dispatches"] and method == "POST":
                return self._dispatch(request, repo, workflow)
            if parts[2:] == ["runs"] and method == "GET":
                return self._list_runs(request, repo, workflow)
            return None
        if parts == ["runs"] and method == "GET":
            return self._list_runs(request, repo, None)
        if len(parts) >= 2 and parts[0] == "runs" and parts[1].isdigit():
            run = self.runs.get(int(parts[1]))
            if run is None or run.workflow.repo is not repo:
                return github_error(404, "Not Found", DOC_RUN)
            if len(parts) == 2 and method == "GET":
                return Response(200, self.run_body(run))
            if len(parts) == 4 and parts[2] == "attempts" and parts[3].isdigit() and method == "GET":
                number = int(parts[3])
                if not 1 <= number <= len(run.attempts):
                    return github_error(404, "Not Found", DOC_RUN)
                return Response(200, self.run_body(run, run.attempts[number - 1]))
            if parts[2:] == ["rerun"] and method == "POST":
                return self._rerun(request, run)
            if parts[2:] == ["cancel"] and method == "POST":
                return self._cancel(request, run)
        return None

    def _workflow(self, repo: Repo, ident: str) -> Workflow | None:
        """By numeric id or by file name (GitHub matches the file name exactly, case included)."""
        for workflow in repo.workflows:
            if (ident.isdigit() and workflow.id == int(ident)) or workflow.file == ident:
                return workflow
        return None

    def _workflow_body(self, workflow: Workflow) -> dict[str, Any]:
        api, full = self._github.api_url, workflow.repo.full_name
        return {"id": workflow.id, "node_id": node_id("W", workflow.id), "name": workflow.name,
                "path": workflow.path, "state": workflow.state, "created_at": iso_seconds(workflow.created),
                "updated_at": iso_seconds(workflow.created),
                "url": f"{api}/repos/{full}/actions/workflows/{workflow.id}",
                "html_url": f"{WEB}/{full}/blob/{workflow.repo.default_branch}/{workflow.path}",
                "badge_url": f"{WEB}/{full}/workflows/{workflow.name}/badge.svg"}

    def _list_workflows(self, request: Request, repo: Repo) -> Response:
        page, link = paged(list(repo.workflows), request, self._github.api_url)
        return Response(200, {"total_count": len(repo.workflows),
                              "workflows": [self._workflow_body(w) for w in page]}, link)

    # ----- dispatch ----------------------------------------------------------------------------------
    def _dispatch(self, request: Request, repo: Repo, workflow: Workflow) -> Response:
        refusal = self._github.refuse_write(request, "actions", DOC_DISPATCH)
        if refusal:
            return refusal
        response, run = self._dispatch_answer(request, repo, workflow)
        with self.lock:
            self.dispatches.append(Dispatch(workflow, request.body, response.status, run))
        return response

    def _dispatch_answer(self, request: Request, repo: Repo, workflow: Workflow) -> tuple[Response, Run | None]:
        body = request.body
        if not isinstance(body, dict):
            return github_error(400, "Problems parsing JSON", DOC_DISPATCH), None
        ref, inputs, details = body.get("ref"), body.get("inputs", {}), body.get("return_run_details", False)
        if not isinstance(ref, str):
            problem = '"ref" wasn\'t supplied.' if ref is None else f"For 'properties/ref', {json.dumps(ref)} is not a string."
            return github_error(422, f"Invalid request.\n\n{problem}", DOC_DISPATCH), None
        if not isinstance(details, bool):
            return github_error(422, f"Invalid request.\n\nFor 'properties/return_run_details', "
                                     f"{json.dumps(details)} is not a boolean.", DOC_DISPATCH), None
        if not isinstance(inputs, dict):
            return github_error(422, f"Invalid request.\n\nFor 'properties/inputs', {json.dumps(inputs)} is not "
                                     f"an object.", DOC_DISPATCH), None
        if len(inputs) > MAX_INPUTS:
            return github_error(422, f"Invalid request.\n\nFor 'properties/inputs', too many properties "
                                     f"({len(inputs)} > {MAX_INPUTS}).", DOC_DISPATCH), None
        for name, value in inputs.items():
            if not isinstance(value, str):
                return github_error(422, f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(value)} is "
                                         f"not a string.", DOC_DISPATCH), None
        resolved = repo.resolve(ref)
        if resolved is None:
            return github_error(422, f"No ref found for: {ref}", DOC_DISPATCH), None
        if workflow.state != "active":
            return github_error(422, "Cannot trigger a 'workflow_dispatch' on a disabled workflow", DOC_DISPATCH), None
        file = workflow.file_at(resolved[1])
        if file is None or not file.dispatchable:
            # the workflow file as it is at that ref decides: an old tag may predate the trigger, or the file
            return github_error(422, "Workflow does not have 'workflow_dispatch' trigger", DOC_DISPATCH), None
        unexpected = [name for name in inputs if name not in file.inputs]
        if unexpected:
            return github_error(422, f"Unexpected inputs provided: {json.dumps(unexpected)}", DOC_DISPATCH), None
        values: dict[str, str] = {}
        for name, spec in file.inputs.items():
            if name in inputs and not (spec.required and inputs[name] == ""):
                problem = self._input_problem(name, spec, inputs[name])
                if problem:
                    return github_error(422, problem, DOC_DISPATCH), None
                values[name] = inputs[name]
            elif spec.default is not None:
                values[name] = spec.default
            elif spec.required:
                return github_error(422, f"Required input '{name}' not provided", DOC_DISPATCH), None
            else:
                values[name] = "false" if spec.type == "boolean" else ""
        run = self.create_run(workflow, ref=ref, inputs=values, actor=self._github.caller(request).account,
                              event="workflow_dispatch")
        if details and self._github.scenario.return_run_details:
            full = repo.full_name
            return Response(200, {"workflow_run_id": run.id,
                                  "run_url": f"{self._github.api_url}/repos/{full}/actions/runs/{run.id}",
                                  "html_url": f"{WEB}/{full}/actions/runs/{run.id}"}), run
        return Response(204), run

    @staticmethod
    def _input_problem(name: str, spec: WorkflowInput, value: str) -> str | None:
        if spec.type == "boolean" and value not in ("true", "false"):
            return f"Provided value '{value}' for input '{name}' is not a valid boolean"
        if spec.type == "choice" and value not in spec.options:
            return f"Provided value '{value}' for input '{name}' not in the list of allowed values"
        if spec.type == "number":
            try:
                float(value)
            except ValueError:
                return f"Provided value '{value}' for input '{name}' is not a valid number"
        return None

    # ----- runs --------------------------------------------------------------------------------------
    def _list_runs(self, request: Request, repo: Repo, workflow: Workflow | None) -> Response:
        now = self._github.clock.now()
        try:
            matches = self._filter(request, repo, workflow, now)
            page, link = paged(matches, request, self._github.api_url)
        except BadQuery as problem:
            return github_error(422, f"Validation Failed: {problem}", DOC_RUNS)
        return Response(200, {"total_count": len(matches), "workflow_runs": [self.run_body(r) for r in page]}, link)

    def _filter(self, request: Request, repo: Repo, workflow: Workflow | None, now: float) -> list[Run]:
        query = request.query
        status = query.get("status")
        if status is not None and status not in STATUSES | CONCLUSIONS:
            raise BadQuery(f"status {status!r} is not one of {', '.join(sorted(STATUSES | CONCLUSIONS))}")
        created = date_filter(query["created"]) if "created" in query else None
        with self.lock:
            runs = [r for r in self.runs.values() if r.workflow.repo is repo and r.listed_from <= now
                    and (workflow is None or r.workflow is workflow)]
        chosen = []
        for run in runs:
            state, conclusion, _ = run.status(now)
            if status is not None and status not in (state, conclusion):
                continue
            if created is not None and not created[0] <= run.created <= created[1]:
                continue
            if "event" in query and run.event != query["event"]:
                continue
            if "branch" in query and run.head_branch != query["branch"]:
                continue
            if "actor" in query and run.actor.login.lower() != query["actor"].lower():
                continue
            if "head_sha" in query and run.head_sha != query["head_sha"]:
                continue
            chosen.append(run)
        chosen.sort(key=lambda r: (r.created, r.id), reverse=True)
        filtered = {"actor", "branch", "check_suite_id", "created", "event", "head_sha", "status"} & set(query)
        return chosen[:1000] if filtered else chosen  # "up to 1,000 results" with these filters, as documented

    def run_body(self, run: Run, attempt: Attempt | None = None) -> dict[str, Any]:
        attempt = attempt or run.latest
        now = self._github.clock.now()
        status, conclusion, changed = attempt.phase(now)
        api, repo = self._github.api_url, run.workflow.repo
        url = f"{api}/repos/{repo.full_name}/actions/runs/{run.id}"
        suite = run.id + 7
        return {
            "id": run.id, "name": run.workflow.name, "node_id": node_id("WFR", run.id),
            "check_suite_id": suite, "check_suite_node_id": node_id("CS", suite),
            "head_branch": run.head_branch, "head_sha": run.head_sha,
            "path": f"{run.workflow.path}@{run.head_branch}", "run_number": run.run_number, "event": run.event,
            "display_title": run.display_title, "status": status, "conclusion": conclusion,
            "workflow_id": run.workflow.id, "url": url, "html_url": f"{WEB}/{repo.full_name}/actions/runs/{run.id}",
            "pull_requests": [], "created_at": iso_seconds(run.created),
            "updated_at": iso_seconds(max(changed, attempt.requested)), "actor": run.actor.body(api),
            "run_attempt": attempt.number, "referenced_workflows": [],
            "run_started_at": iso_seconds(attempt.requested), "triggering_actor": run.actor.body(api),
            "jobs_url": f"{url}/jobs", "logs_url": f"{url}/logs",
            "check_suite_url": f"{api}/repos/{repo.full_name}/check-suites/{suite}",
            "artifacts_url": f"{url}/artifacts", "cancel_url": f"{url}/cancel", "rerun_url": f"{url}/rerun",
            "previous_attempt_url": f"{url}/attempts/{attempt.number - 1}" if attempt.number > 1 else None,
            "workflow_url": f"{api}/repos/{repo.full_name}/actions/workflows/{run.workflow.id}",
            "head_commit": {"id": run.head_sha, "tree_id": sha_of(f"tree{run.head_sha}"),
                            "message": f"Release {run.head_branch}", "timestamp": iso_seconds(run.created - 60),
                            "author": {"name": "Augeo Release", "email": "release@augeo.example"},
                            "committer": {"name": "GitHub", "email": "noreply@github.com"}},
            "repository": repo.body(api), "head_repository": repo.body(api),
        }

    def _rerun(self, request: Request, run: Run) -> Response:
        refusal = self._github.refuse_write(request, "actions", DOC_RERUN)
        if refusal:
            return refusal
        now = self._github.clock.now()
        with self.lock:
            if run.status(now)[0] != "completed":
                return github_error(403, "This workflow is already running", DOC_RERUN)
            if now - run.created > RERUN_DAYS * 86400:
                return github_error(403, "Unable to retry this workflow run because it was created over a month ago",
                                    DOC_RERUN)
            if len(run.attempts) >= MAX_ATTEMPTS:
                return github_error(403, "This workflow run cannot be retried", DOC_RERUN)
            # the same SHA, ref, inputs and workflow file; only the outcome is the scenario's next one
            run.attempts.append(Attempt(len(run.attempts) + 1, float(int(now)), run.workflow.next_outcome()))
        return Response(201, {})

    def _cancel(self, request: Request, run: Run) -> Response:
        refusal = self._github.refuse_write(request, "actions", DOC_CANCEL)
        if refusal:
            return refusal
        with self.lock:
            if run.status(self._github.clock.now())[0] == "completed":
                return github_error(409, "Cannot cancel a workflow run that is completed.", DOC_CANCEL)
            self.finish(run, "cancelled")
        return Response(202, {})

    def successful_completions(self, workflow: Workflow) -> list[tuple[float, Run]]:
        """(when, run) of each attempt of `workflow` that has completed with success by now, oldest first."""
        now = self._github.clock.now()
        done = []
        with self.lock:
            for run in self.runs.values():
                if run.workflow is not workflow:
                    continue
                for attempt in run.attempts:
                    status, conclusion, changed = attempt.phase(now)
                    if status == "completed" and conclusion == "success":
                        done.append((changed, run))
        return sorted(done, key=lambda pair: (pair[0], pair[1].id))

