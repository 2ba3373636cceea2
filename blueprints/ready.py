"""`GET /api/ready`: is this deployment able to work? Settings, rules and the incident store, checked now.
How to check a deployment: 200 names the rules loaded; 503 `misconfigured` names the setting or rule at fault."""

from __future__ import annotations

import azure.functions as func

from blueprints.http import answers_errors, json_response

bp = func.Blueprint()


@bp.route(route="ready", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def readiness(req: func.HttpRequest) -> func.HttpResponse:
    from shared import services

    current = services.current()  # the settings: ConfigurationError -> 503 misconfigured
    rules = current.rules  # the rules file, likewise
    await current.store.open()  # the incident store answers (StoreError -> 503 store_unavailable)
    return json_response({"ready": True, "rules": [rule.name for rule in rules.rules],
                          "rules_path": current.settings.rules_path})
