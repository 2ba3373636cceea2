"""Resource-group deployments (Microsoft.Resources, api-version 2026-06-01, as azure-mgmt-resource-deployments
sends it) as the emulator serves them: list, get, export template, what-if, create or update, each as strictly as
ARM does. Shapes follow the official examples (../shared/azure-rest/resources/, copied into reference/).

A deployment that succeeds applies its template's resources to the resource world (arm_resources.py), so the
what-if of a later deployment compares against what the earlier ones left, and Resource Graph and the activity
log see the writes. Where ARM's behaviour is not documented the stricter choice is made, and said so:
  * create answers 201 + `Location` + `Retry-After` as the spec declares (no `Azure-AsyncOperation`; live ARM
    also sends one, azure-rest-api-specs issue 12898: the `async-operation` scenario variant). In the Location
    form a failed deployment is **not** an HTTP error: the Location's last answer is the deployment with
    `provisioningState: Failed` and its `error`, so a client must read the state, not wait for an exception;
  * an update (PUT on an existing name) answers 200 with no polling header (the spec declares none): the client
    polls the deployment itself;
  * a second deployment while one runs on the group is refused with 409 (ARM itself accepts deployments of other
    names side by side and the resource providers refuse the conflicting writes; refusing at once is stricter);
  * the list is in name order, not by time: a client finds "the last successful one" from `timestamp`;
  * `mode: Complete` is accepted, as ARM does, and recorded (`complete_mode_requests`) so a test can prove it
    was never asked for; `onErrorDeployment` is stored and returned as sent (for `LastSuccessful` the service
    names the deployment it would use, as the official example shows); the replay itself is not emulated;
  * templates are evaluated by templates.py (a documented subset); `templateLink` / `parametersLink` are refused
    (the emulator fetches nothing); secure parameters are never returned (only their type), and values that came
    from them never appear in what-if or in resource state (resource providers treat secrets as write-only).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Literal

from local.emulator.arm_resources import (RESPONDER_PRINCIPAL, ArmResource, ResourceGroup, ResourceWorld,
                                          arm_time, utcnow)
from local.emulator.server import Request, Response, arm_error
from local.emulator.templates import DesiredResource, Evaluated, TemplateError, evaluate, template_hash
from local.emulator.whatif import not_in_template, secret_values, what_if_changes, without

API_VERSIONS = {"2026-06-01", "2025-04-01", "2024-11-01", "2024-07-01", "2024-03-01", "2023-07-01", "2022-09-01",
                "2021-04-01", "2020-10-01", "2020-06-01"}
_BASE = (r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.resources/deployments")
_LIST = re.compile(_BASE + r"/?$", re.IGNORECASE)
_ONE = re.compile(_BASE + r"/(?P<name>[^/]+)(?P<rest>/exporttemplate|/whatif|/operationstatuses/[^/]+|/[^/]+)?/?$",
                  re.IGNORECASE)
_RESULT = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/operationresults/(?P<token>[^/]+)$", re.IGNORECASE)
_NAME = re.compile(r"^[-\w._()]{1,64}$")
_FILTER = re.compile(r"^provisioningState eq '(?P<state>[A-Za-z]+)'$")
STATES = {"NotSpecified", "Accepted", "Running", "Ready", "Creating", "Created", "Deleting", "Deleted", "Canceled",
          "Failed", "Succeeded", "Updating"}
FAILED_MESSAGE = ("At least one resource deployment operation failed. Please list deployment operations for "
                  "details. Please see https://aka.ms/arm-deployment-operations for usage details.")
SecretLookup = Callable[[dict[str, Any], str], str]


@dataclass
class Failure:
    """The next deployment(s) fail with this resource provider error; `resource` (a resource name) fails and
    the template's other resources are still applied, as an Incremental deployment leaves them; no `resource`:
    nothing is applied."""

    code: str
    message: str
    resource: str | None = None
    details: list[dict[str, Any]] | None = None
    times: int | None = 1


@dataclass
class DeploymentScenario:
    deploy_seconds: float | None = 0.2  # None: runs until finish() is called
    whatif_seconds: float | None = 0.1
    retry_after: str = "0"  # Azure sends a positive number of seconds; tests keep it 0 (the client's own interval)
    create_lro: Literal["location", "async-operation"] = "location"
    page_size: int = 20  # deployments per list page (ARM's page size is not documented)
    failures: list[Failure] = field(default_factory=list)
    whatif_failure: dict[str, Any] | None = None  # {"code", "message"}: the next what-if ends Failed with it
    # resource type (lower case) -> (changeType "Deploy" | "Unsupported", reason): what-if cannot predict these
    whatif_overrides: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Deployment:
    name: str
    group: ResourceGroup
    template: dict[str, Any]
    evaluated: Evaluated
    mode: str
    on_error: dict[str, Any] | None
    tags: dict[str, str] | None
    state: str
    started: datetime
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ended: datetime | None = None
    error: dict[str, Any] | None = None
    output_resources: list[str] = field(default_factory=list)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    failure: Failure | None = None
    by: str = RESPONDER_PRINCIPAL

    @property
    def id(self) -> str:
        return f"{self.group.id}/providers/Microsoft.Resources/deployments/{self.name}"

    @property
    def running(self) -> bool:
        return self.state in ("Accepted", "Running")


@dataclass
class WhatIf:
    group: ResourceGroup
    result: dict[str, Any]
    done: bool = False


class Deployments:
    def __init__(self, world: ResourceWorld, base_url: Callable[[], str], secret: SecretLookup):
        self.world = world
        self._base_url = base_url
        self._secret = secret
        self.scenario = DeploymentScenario()
        self.deployments: dict[tuple[str, str, str], Deployment] = {}
        self.whatifs: dict[str, WhatIf] = {}
        self.complete_mode_requests: list[str] = []  # "PUT <name>" / "whatIf <name>" asked in Complete mode

    # ----- scenario set-up -------------------------------------------------------------------------
    def add(self, resource_group: str, name: str, template: dict[str, Any], parameters: dict[str, Any], *,
            subscription: str, state: str = "Succeeded", minutes_ago: float = 60, duration_seconds: float = 40,
            error: Failure | None = None, mode: str = "Incremental", by: str = "deploy-pipeline@augeo.example",
            applied: bool = True) -> Deployment:
        """A deployment in the group's history, `minutes_ago` when it ended: a Succeeded one (or a Failed one with
        `error`, whose other resources were applied if `error.resource` names the one that failed) changes the
        resources as it did then, back-dated, so the change log and the activity log show it."""
        if state == "Failed" and error is None:
            raise ValueError("a Failed deployment in the history needs its `error` (a Failure)")
        with self.world.lock:
            group = self._group(subscription, resource_group)
            evaluated = evaluate(template, parameters, group, self._secret)
            ended = utcnow() - timedelta(minutes=minutes_ago)
            deployment = Deployment(name, group, copy.deepcopy(template), evaluated, mode, None, None, "Running",
                                    ended - timedelta(seconds=duration_seconds), failure=error, by=by)
            self.deployments[self._key(group, name)] = deployment
            self.world.log(_as_resource(deployment), "Microsoft.Resources/deployments/write", by=by,
                           at=deployment.started, correlation_id=deployment.correlation_id, method="PUT",
                           status="Accepted", status_code="Created")
            self._complete(deployment, "Failed" if state == "Failed" else "Succeeded", at=ended, apply=applied)
            return deployment

    def fail_next(self, code: str, message: str, *, resource: str | None = None,
                  details: list[dict[str, Any]] | None = None, times: int | None = 1) -> Failure:
        failure = Failure(code, message, resource, details, times)
        self.scenario.failures.append(failure)
        return failure

    def get(self, resource_group: str, name: str, subscription: str) -> Deployment:
        return self.deployments[(subscription.lower(), resource_group.lower(), name.lower())]

    def finish(self, resource_group: str, name: str, subscription: str) -> None:
        """End a deployment left running (`deploy_seconds = None`) now."""
        deployment = self.get(resource_group, name, subscription)
        self._finish(deployment)

    def finish_what_ifs(self) -> None:
        with self.world.lock:
            for what_if in self.whatifs.values():
                what_if.done = True

    def running(self) -> list[Deployment]:
        with self.world.lock:
            return [d for d in self.deployments.values() if d.running]

    # ----- routing ---------------------------------------------------------------------------------
    def route(self, request: Request) -> Response | None:
        path = request.path
        result = _RESULT.match(path)
        listing = _LIST.match(path)
        one = _ONE.match(path)
        if not (result or listing or one):
            return None
        version = request.query.get("api-version")
        if version not in API_VERSIONS:
            return arm_error(400, "InvalidApiVersionParameter",
                             f"The api-version '{version}' is invalid. The supported versions are "
                             f"'{','.join(sorted(API_VERSIONS, reverse=True))}'.")
        with self.world.lock:
            if result:
                return self._operation_result(result["token"])
            match = listing or one
            assert match is not None
            group = self.world.group(match["sub"], match["rg"])
            if group is None:
                return arm_error(404, "ResourceGroupNotFound", f"Resource group '{match['rg']}' could not be found.")
            if listing:
                if request.method != "GET":
                    return arm_error(405, "MethodNotAllowed", f"{request.method} is not supported on {path}.")
                return self._list(request, group)
            return self._one(request, group, one["name"], (one["rest"] or "").lower())

    def _one(self, request: Request, group: ResourceGroup, name: str, rest: str) -> Response:
        if not _NAME.match(name):
            # The spec's pattern (1-64 of [-\w._()]); ARM's exact code for a bad name is not documented.
            return arm_error(400, "InvalidDeploymentName",
                             f"The deployment name '{name}' is invalid: it must be 1 to 64 characters of letters, "
                             f"digits, '-', '_', '.', '(' and ')'.")
        method = request.method
        deployment = self.deployments.get(self._key(group, name))
        if rest == "" and method == "PUT":
            return self._create(request, group, name, deployment)
        if rest == "/whatif" and method == "POST":
            return self._what_if(request, group, name)
        if rest.startswith("/operationstatuses/") and method == "GET":
            if deployment is None or deployment.token != rest.rsplit("/", 1)[1]:
                return arm_error(404, "NotFound", f"Operation {rest.rsplit('/', 1)[1]} not found.")
            return self._operation_status(deployment)
        if rest in ("", "/exporttemplate") and method in ("GET", "POST"):
            if deployment is None:
                return arm_error(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
            if rest == "" and method == "GET":
                return Response(200, self._body(deployment))
            if rest == "/exporttemplate" and method == "POST":
                return Response(200, {"template": copy.deepcopy(deployment.template)})
        known = ("", "/exporttemplate", "/whatif")
        return arm_error(405 if rest in known else 404, "NotSupported" if rest in known else "NotFound",
                         f"{method} {request.path} is not emulated")

    # ----- list ------------------------------------------------------------------------------------
    def _list(self, request: Request, group: ResourceGroup) -> Response:
        deployments = sorted((d for d in self.deployments.values() if d.group is group), key=lambda d: d.name.lower())
        raw_filter = request.query.get("$filter")
        if raw_filter is not None:
            match = _FILTER.match(raw_filter.strip())
            if not match or match["state"] not in STATES:
                return arm_error(400, "InvalidFilter",
                                 f"The $filter '{raw_filter}' is not supported: the only filter on deployments is "
                                 f"\"provisioningState eq '<state>'\" with a state from {', '.join(sorted(STATES))}.")
            deployments = [d for d in deployments if d.state == match["state"]]
        top = request.query.get("$top")
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                return arm_error(400, "InvalidTop", f"The $top value '{top}' must be a positive integer.")
            deployments = deployments[:int(top)]
        skip = request.query.get("$skiptoken", "0")
        start = int(skip) if skip.isdigit() else 0
        page = deployments[start:start + self.scenario.page_size]
        body: dict[str, Any] = {"value": [self._body(d) for d in page]}
        if start + self.scenario.page_size < len(deployments):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(start + self.scenario.page_size)
            from urllib.parse import urlencode

            body["nextLink"] = f"{self._base_url()}{request.path}?{urlencode(query)}"
        return Response(200, body)

    # ----- create or update ------------------------------------------------------------------------
    def _create(self, request: Request, group: ResourceGroup, name: str, existing: Deployment | None) -> Response:
        parsed = self._parse(request, name, "PUT")
        if isinstance(parsed, Response):
            return parsed
        template, parameters, mode, on_error = parsed
        if existing is not None and existing.running:
            return arm_error(409, "DeploymentActive",
                             f"Unable to edit or replace deployment '{name}': previous deployment from "
                             f"'{arm_time(existing.started)}' is still active (expiration time is "
                             f"'{arm_time(existing.started + timedelta(days=14))}'). Please see "
                             f"https://aka.ms/arm-deploy for usage details.")
        other = next((d for d in self.deployments.values() if d.group is group and d.running), None)
        if other is not None:
            return arm_error(409, "DeploymentActive",
                             f"Another deployment, '{other.name}' (started '{arm_time(other.started)}'), is running "
                             f"on resource group '{group.name}'. Wait for it to end, then deploy again.")
        try:
            evaluated = evaluate(template, parameters, group, self._secret)
        except TemplateError as error:
            return Response(400, error.body())
        if on_error is not None:
            on_error = self._on_error(on_error, group)
            if isinstance(on_error, Response):
                return on_error
        body = request.body if isinstance(request.body, dict) else {}
        deployment = Deployment(name, group, copy.deepcopy(template), evaluated, mode, on_error, body.get("tags"),
                                "Accepted", utcnow())
        if self.scenario.failures:
            failure = self.scenario.failures[0]
            deployment.failure = failure
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.scenario.failures.pop(0)
        self.deployments[self._key(group, name)] = deployment
        self.world.log(_as_resource(deployment), "Microsoft.Resources/deployments/write", by=deployment.by,
                       at=deployment.started, correlation_id=deployment.correlation_id, method="PUT",
                       status="Accepted", status_code="Created")
        self._schedule(self.scenario.deploy_seconds, self._finish, deployment)
        status = 200 if existing is not None else 201
        headers: dict[str, str] = {}
        if self.scenario.create_lro == "async-operation":
            headers["Azure-AsyncOperation"] = (f"{self._base_url()}{deployment.id.replace('/resourceGroups/', '/resourcegroups/')}"
                                               f"/operationStatuses/{deployment.token}?api-version=2020-06-01")
        if status == 201:
            headers["Location"] = self._location(group, "deploy", deployment.token, name)
            headers["Retry-After"] = self.scenario.retry_after
        return Response(status, self._body(deployment), headers)

    def _on_error(self, on_error: Any, group: ResourceGroup) -> dict[str, Any] | Response:
        if not isinstance(on_error, dict) or on_error.get("type") not in ("LastSuccessful", "SpecificDeployment"):
            return arm_error(400, "InvalidOnErrorDeployment",
                             "onErrorDeployment.type must be 'LastSuccessful' or 'SpecificDeployment'.")
        stored = dict(on_error)
        if stored["type"] == "SpecificDeployment" and not stored.get("deploymentName"):
            return arm_error(400, "InvalidOnErrorDeployment",
                             "onErrorDeployment of type 'SpecificDeployment' needs a deploymentName.")
        if stored["type"] == "LastSuccessful":
            succeeded = [d for d in self.deployments.values() if d.group is group and d.state == "Succeeded"]
            if succeeded:
                stored["deploymentName"] = max(succeeded, key=lambda d: d.ended or d.started).name
        return stored

    def _finish(self, deployment: Deployment) -> None:
        with self.world.lock:
            if not deployment.running:
                return
            failed = deployment.failure is not None
            self._complete(deployment, "Failed" if failed else "Succeeded", at=utcnow(), apply=True)

    def _complete(self, deployment: Deployment, state: str, *, at: datetime, apply: bool) -> None:
        """End the deployment: apply its resources (all of them, or all but the one that failed) and record it."""
        failure = deployment.failure if state == "Failed" else None
        applied: list[str] = []
        if apply and (failure is None or failure.resource is not None):
            secrets = secret_values(deployment.evaluated)
            for resource in deployment.evaluated.resources:
                if failure is not None and resource.name.split("/")[-1] == failure.resource.split("/")[-1]:
                    continue
                self.world.put(deployment.group, resource.type, resource.name, location=resource.location,
                               properties=without(resource.properties, secrets), tags=resource.tags,
                               sku=resource.sku, kind=resource.kind, api_version=resource.api_version,
                               by=deployment.by, at=at, correlation_id=deployment.correlation_id)
                applied.append(resource.id)
            if failure is None and deployment.mode == "Complete":
                for gone in not_in_template(self.world, deployment.group, deployment.evaluated):
                    self.world.delete(gone.id, by=deployment.by, at=at, correlation_id=deployment.correlation_id)
        deployment.state, deployment.ended, deployment.output_resources = state, at, applied
        if failure is not None:
            target = next((r.id for r in deployment.evaluated.resources
                           if failure.resource and r.name.split("/")[-1] == failure.resource.split("/")[-1]), None)
            detail: dict[str, Any] = {"code": failure.code, "message": failure.message}
            if target:
                detail["target"] = target
            if failure.details:
                detail["details"] = copy.deepcopy(failure.details)
            deployment.error = {"code": "DeploymentFailed", "target": deployment.id, "message": FAILED_MESSAGE,
                                "details": [detail]}
        self.world.log(_as_resource(deployment), "Microsoft.Resources/deployments/write", by=deployment.by,
                       at=at, correlation_id=deployment.correlation_id, method="PUT", status=state,
                       status_code="OK" if state == "Succeeded" else "Conflict", begin=False)

    # ----- what-if ---------------------------------------------------------------------------------
    def _what_if(self, request: Request, group: ResourceGroup, name: str) -> Response:
        parsed = self._parse(request, name, "whatIf")
        if isinstance(parsed, Response):
            return parsed
        template, parameters, mode, _ = parsed
        try:
            evaluated = evaluate(template, parameters, group, self._secret)
        except TemplateError as error:
            return Response(400, error.body())
        properties = (request.body or {}).get("properties") or {}
        result_format = ((properties.get("whatIfSettings") or {}).get("resultFormat")) or "FullResourcePayloads"
        if result_format not in ("FullResourcePayloads", "ResourceIdOnly"):
            return arm_error(400, "InvalidRequestContent",
                             f"whatIfSettings.resultFormat '{result_format}' is not 'FullResourcePayloads' or "
                             f"'ResourceIdOnly'.")
        if self.scenario.whatif_failure:
            failure, self.scenario.whatif_failure = self.scenario.whatif_failure, None
            result: dict[str, Any] = {"status": "Failed", "error": {"code": failure["code"],
                                                                    "message": failure["message"]}}
        else:
            changes = what_if_changes(self.world, group, evaluated, mode, self.scenario.whatif_overrides)
            if result_format == "ResourceIdOnly":
                changes = [{k: v for k, v in c.items() if k in ("resourceId", "changeType", "unsupportedReason")}
                           for c in changes]
            result = {"status": "Succeeded", "properties": {"changes": changes}}
        token = uuid.uuid4().hex
        what_if = WhatIf(group, result)
        self.whatifs[token] = what_if
        self._schedule(self.scenario.whatif_seconds, lambda w: setattr(w, "done", True), what_if)
        return Response(202, None, {"Location": self._location(group, "whatIf", token, name),
                                    "Retry-After": self.scenario.retry_after})

    # ----- long-running operation status -----------------------------------------------------------
    def _location(self, group: ResourceGroup, kind: str, token: str, name: str) -> str:
        """An opaque operation-results URL under the subscription, the form ARM's what-if Location takes."""
        job = base64.urlsafe_b64encode(json.dumps({"kind": kind, "token": token, "name": name}).encode()).decode()
        return f"{self._base_url()}/subscriptions/{group.subscription}/operationresults/{job.rstrip('=')}" \
               f"?api-version=2026-06-01"

    def _operation_result(self, raw: str) -> Response:
        try:
            job = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError:
            return arm_error(404, "NotFound", "The operation result was not found.")
        retry = {"Retry-After": self.scenario.retry_after}
        if job.get("kind") == "whatIf":
            what_if = self.whatifs.get(job.get("token", ""))
            if what_if is None:
                return arm_error(404, "NotFound", "The operation result was not found.")
            if not what_if.done:
                return Response(202, None, {"Location": self._location(what_if.group, "whatIf", job["token"],
                                                                       job["name"]), **retry})
            return Response(200, copy.deepcopy(what_if.result))
        deployment = next((d for d in self.deployments.values() if d.token == job.get("token")), None)
        if deployment is None:
            return arm_error(404, "NotFound", "The operation result was not found.")
        if deployment.running:
            return Response(202, None, {"Location": self._location(deployment.group, "deploy", deployment.token,
                                                                   deployment.name), **retry})
        return Response(200, self._body(deployment))

    def _operation_status(self, deployment: Deployment) -> Response:
        """The Azure-AsyncOperation status resource (the `async-operation` variant)."""
        body: dict[str, Any] = {"status": "Running" if deployment.running else deployment.state}
        if deployment.error:
            body["error"] = copy.deepcopy(deployment.error)
        return Response(200, body, {"Retry-After": self.scenario.retry_after} if deployment.running else {})

    # ----- shapes ----------------------------------------------------------------------------------
    def _parse(self, request: Request, name: str, verb: str
               ) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any] | None] | Response:
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            return arm_error(400, "InvalidRequestContent",
                             "The request content was invalid and could not be deserialized: 'Required property "
                             "'properties' not found in JSON.'")
        properties = body["properties"]
        mode = properties.get("mode")
        if mode not in ("Incremental", "Complete"):
            return arm_error(400, "InvalidRequestContent",
                             f"The request content was invalid and could not be deserialized: 'mode' must be "
                             f"'Incremental' or 'Complete', not {mode!r}.")
        if "templateLink" in properties or "parametersLink" in properties:
            return arm_error(400, "InvalidTemplate",
                             "templateLink / parametersLink are not fetched by the local emulator: send the "
                             "template and parameters inline.")
        if not isinstance(properties.get("template"), dict):
            return arm_error(400, "InvalidRequestContent",
                             "The request content was invalid and could not be deserialized: 'properties.template' "
                             "is required (an object).")
        if mode == "Complete":
            self.complete_mode_requests.append(f"{verb} {name}")
        return properties["template"], properties.get("parameters") or {}, mode, properties.get("onErrorDeployment")

    def _body(self, deployment: Deployment) -> dict[str, Any]:
        evaluated = deployment.evaluated
        providers: dict[str, dict[str, set[str]]] = {}
        for resource in evaluated.resources:
            namespace, _, type_ = resource.type.partition("/")
            providers.setdefault(namespace, {}).setdefault(type_, set()).add(resource.location or
                                                                             deployment.group.location)
        properties: dict[str, Any] = {
            "templateHash": template_hash(deployment.template),
            "parameters": copy.deepcopy(evaluated.parameters),
            "mode": deployment.mode,
            "provisioningState": deployment.state,
            "timestamp": arm_time(deployment.ended or deployment.started),
            "duration": f"PT{((deployment.ended or utcnow()) - deployment.started).total_seconds():.7f}S",
            "correlationId": deployment.correlation_id,
            "providers": [{"namespace": ns, "resourceTypes": [{"resourceType": t, "locations": sorted(locs)}
                                                              for t, locs in types.items()]}
                          for ns, types in providers.items()],
            "dependencies": _dependencies(evaluated.resources),
        }
        if deployment.on_error is not None:
            properties["onErrorDeployment"] = copy.deepcopy(deployment.on_error)
        if deployment.state == "Succeeded":
            properties["outputs"] = copy.deepcopy(evaluated.outputs)
        if not deployment.running:
            properties["outputResources"] = [{"id": rid} for rid in deployment.output_resources]
        if deployment.error:
            properties["error"] = copy.deepcopy(deployment.error)
        body: dict[str, Any] = {"id": deployment.id, "name": deployment.name,
                                "type": "Microsoft.Resources/deployments", "properties": properties}
        if deployment.tags:
            body["tags"] = dict(deployment.tags)
        return body

    # ----- helpers ---------------------------------------------------------------------------------
    def _group(self, subscription: str, name: str) -> ResourceGroup:
        group = self.world.group(subscription, name)
        if group is None:
            raise KeyError(f"resource group {name} is not in the scenario (add_resource_group first)")
        return group

    @staticmethod
    def _key(group: ResourceGroup, name: str) -> tuple[str, str, str]:
        return group.subscription.lower(), group.name.lower(), name.lower()

    @staticmethod
    def _schedule(seconds: float | None, action: Callable[[Any], None], subject: Any) -> None:
        if seconds is None:
            return
        timer = threading.Timer(seconds, action, (subject,))
        timer.daemon = True
        timer.start()


def _dependencies(resources: list[DesiredResource]) -> list[dict[str, Any]]:
    by_id = {r.id.lower(): r for r in resources}
    out = []
    for resource in resources:
        if not resource.depends_on:
            continue
        targets = []
        for reference in resource.depends_on:
            target = by_id.get(reference.lower()) or next(
                (r for r in resources if reference.lower() in (r.name.lower(), (r.symbolic_name or "").lower())),
                None)
            if target is not None:
                targets.append({"id": target.id, "resourceType": target.type, "resourceName": target.name})
        out.append({"dependsOn": targets, "id": resource.id, "resourceType": resource.type,
                    "resourceName": resource.name})
    return out


def _as_resource(deployment: Deployment) -> ArmResource:
    return ArmResource(deployment.id, "Microsoft.Resources/deployments", deployment.name, deployment.group.name,
                       deployment.group.subscription)
