"""The command API for CI pipelines, chat-ops and people: request an action, approve, reject or cancel it.
Every call needs a caller identity with a role (shared/auth.py) on top of the function key."""

from __future__ import annotations

import azure.functions as func

from blueprints.http import answers_errors, json_response, read_json

bp = func.Blueprint()


def _base_url(req: func.HttpRequest, configured: str | None) -> str:
    if configured:
        return configured.rstrip("/")
    scheme, _, rest = req.url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@bp.route(route="actions", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def request_action(req: func.HttpRequest) -> func.HttpResponse:
    """202 with the incident id and URL; 200 with the same for a repeated Idempotency-Key."""
    from shared import services
    from shared.decide import commands
    from shared.adapters.identity import OPERATOR, require
    from shared.run.accept import accept

    current = services.current()
    caller = await current.auth.caller(req.headers)
    require(caller, OPERATOR)
    request = commands.read(commands.ActionRequest, read_json(req))
    plan = commands.plan_for(request, current.kinds, current.rules)
    event = commands.event_for(request, caller, req.headers.get("idempotency-key"), current.clock())
    acceptance = await accept(current, event, plan, caller)
    url = f"{_base_url(req, current.settings.public_base_url)}/api/incidents/{acceptance.incident_id}"
    return json_response(acceptance.body() | {"url": url}, 202 if acceptance.created else 200,
                         headers={"Location": url})


async def _decide(req: func.HttpRequest, decision: str) -> func.HttpResponse:
    from shared import services
    from shared.decide import commands
    from shared.adapters.identity import APPROVER, OPERATOR, require

    current = services.current()
    caller = await current.auth.caller(req.headers)
    require(caller, *((APPROVER,) if decision != "cancel" else (OPERATOR, APPROVER)))
    body = commands.read(commands.Decision, read_json(req) if req.get_body() else {})
    act = {"approve": commands.approve, "reject": commands.reject, "cancel": commands.cancel}[decision]
    incident = await act(current, req.route_params["incident_id"], caller, body.comment)
    return json_response(incident.public())


@bp.route(route="incidents/{incident_id}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def approve_incident(req: func.HttpRequest) -> func.HttpResponse:
    """Responder.Approver; for a destructive action, not the person who requested it."""
    return await _decide(req, "approve")


@bp.route(route="incidents/{incident_id}/reject", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def reject_incident(req: func.HttpRequest) -> func.HttpResponse:
    return await _decide(req, "reject")


@bp.route(route="incidents/{incident_id}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def cancel_incident(req: func.HttpRequest) -> func.HttpResponse:
    """Responder.Operator or Approver: stops an incident that has not finished (a running step completes)."""
    return await _decide(req, "cancel")


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@answers_errors
async def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    from blueprints.openapi import document

    return json_response(document())
