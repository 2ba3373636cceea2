"""Alert intake: Azure Monitor action-group webhooks (every schema in shared/alert_schemas.py), with the
function key and, for Secure Webhook, the action group's Microsoft Entra ID token (shared/auth.py)."""

from __future__ import annotations

import azure.functions as func

from shared.http import answers_errors, json_response, read_json

bp = func.Blueprint()


@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def receive_alert(req: func.HttpRequest) -> func.HttpResponse:
    """202 with the incident id once it is recorded and queued; 200 for a repeated delivery."""
    from shared import services
    from shared.events import parse_alert
    from shared.intake import accept_alert

    current = services.current()
    await current.auth.alert_sender(req.headers)
    event = parse_alert(read_json(req))
    acceptance = await accept_alert(current, event)
    return json_response(acceptance.body(), 202 if acceptance.created else 200)
