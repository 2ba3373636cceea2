"""The command API for CI pipelines, chat-ops and people: request an action, approve, reject or cancel it.
Every call needs a caller identity with a role (declared on each route; checked by blueprints/http.py with
shared/adapters/identity.py) on top of the function key."""

from __future__ import annotations

import azure.functions as func

from blueprints.http import PUBLIC, callers, json_response, read_json, route
from shared.decide.callers import APPROVER, OPERATOR, Caller

bp = func.Blueprint()


def _base_url(req: func.HttpRequest, configured: str | None) -> str:
    if configured:
        return configured.rstrip("/")
    scheme, _, rest = req.url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@route(bp, "actions", ["POST"], callers(OPERATOR))
async def request_action(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """202 with the incident id and URL; 200 with the same for a repeated Idempotency-Key."""
    from shared import services
    from shared.decide import commands
    from shared.run.accept import accept

    current = services.current()
    request = commands.read(commands.ActionRequest, read_json(req))
    plan = commands.plan_for(request, current.kinds, current.rules)
    event = commands.event_for(request, caller, req.headers.get("idempotency-key"), current.clock())
    acceptance = await accept(current, event, plan, caller)
    url = f"{_base_url(req, current.settings.public_base_url)}/api/incidents/{acceptance.incident_id}"
    return json_response(acceptance.body() | {"url": url}, 202 if acceptance.created else 200,
                         headers={"Location": url})


async def _decide(req: func.HttpRequest, caller: Caller, decision: str) -> func.HttpResponse:
    from shared import services
    from shared.decide import commands
    from shared.run import approvals

    body = commands.read(commands.Decision, read_json(req) if req.get_body() else {})
    act = {"approve": approvals.approve, "reject": approvals.reject, "cancel": approvals.cancel}[decision]
    incident = await act(services.current(), req.route_params["incident_id"], caller, body.comment)
    return json_response(incident.public())


@route(bp, "incidents/{incident_id}/approve", ["POST"], callers(APPROVER))
async def approve_incident(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Responder.Approver; for a destructive action, not the person who requested it."""
    return await _decide(req, caller, "approve")


@route(bp, "incidents/{incident_id}/reject", ["POST"], callers(APPROVER))
async def reject_incident(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return await _decide(req, caller, "reject")


@route(bp, "incidents/{incident_id}/cancel", ["POST"], callers(OPERATOR, APPROVER))
async def cancel_incident(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Responder.Operator or Approver: stops an incident that has not finished (a running step completes)."""
    return await _decide(req, caller, "cancel")


@route(bp, "openapi.json", ["GET"], PUBLIC)
async def openapi_document(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    from blueprints.openapi import document

    return json_response(document())
