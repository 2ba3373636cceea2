"""`GET /api/ready`: is this deployment able to work? Settings, rules and the incident store, checked now.
How to check a deployment: 200 names the rules loaded; 503 `misconfigured` names the setting or rule at fault."""

from __future__ import annotations

import azure.functions as func

from blueprints.http import FUNCTION_KEY, json_response, route

bp = func.Blueprint()


@route(bp, "ready", ["GET"], FUNCTION_KEY)
async def readiness(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    from shared import services

    current = services.current()  # the settings: ConfigurationError -> 503 misconfigured
    rules = current.rules  # the rules file, likewise
    await current.store.open()  # the incident store answers (StoreError -> 503 store_unavailable)
    return json_response({"ready": True, "rules": [rule.name for rule in rules.rules],
                          "rules_path": current.settings.rules_path})
