"""Alert intake: Azure Monitor action-group webhooks (every schema in shared/alert_schemas.py), with the
function key and, for Secure Webhook, the action group's Microsoft Entra ID token (shared/auth.py).

Azure Monitor retries only 408, 429, 503 and 504, and gives up on an endpoint for 15 minutes after failing: so
every failure to record answers 503 with Retry-After, and an alert this version cannot process (a bug) is
recorded, escalated, rather than answered 500 and lost. The whole intake fits inside the webhook's 10 s.
"""

from __future__ import annotations

import logging

import azure.functions as func

from blueprints.http import ALERT_SENDER, json_response, read_json, route
from shared.errors import RequestRefused, StoreError

bp = func.Blueprint()
log = logging.getLogger("responder.alerts")


@route(bp, "alerts", ["POST"], ALERT_SENDER)
async def receive_alert(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    """202 with the incident id once it is recorded and queued; 200 for a repeated delivery."""
    from shared import services
    from shared.decide.events import parse_alert
    from shared.run.accept import accept_alert, accept_unprocessable

    current = services.current()
    try:
        acceptance = await accept_alert(current, parse_alert(read_json(req)))
    except (RequestRefused, StoreError):
        raise
    except Exception as error:  # a bug met on the way: record the alert rather than lose it
        log.exception("alert intake failed; recording the alert as unprocessed")
        acceptance = await accept_unprocessable(current, req.get_body() or b"", error)
    return json_response(acceptance.body(), 202 if acceptance.created else 200)
