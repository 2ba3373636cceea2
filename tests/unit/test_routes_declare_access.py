"""Every HTTP route says who may call it: one that declares nothing would be open to anyone holding the
function key (or to anyone at all), and nothing else would notice."""

from __future__ import annotations

import azure.functions as func

from blueprints.http import FUNCTION_KEY, PUBLIC, Access, route

CHANGES_PRODUCTION = {"request_action", "approve_incident", "reject_incident", "cancel_incident"}


def undeclared(app: func.FunctionApp) -> list[str]:
    """The HTTP functions of `app` registered without an Access (not through blueprints.http.route)."""
    missing = []
    for function in app.get_functions():
        if type(function.get_trigger()).__name__ != "HttpTrigger":
            continue
        if not isinstance(getattr(function.get_user_function(), "access", None), Access):
            missing.append(function.get_function_name())
    return missing


def test_every_route_of_the_app_declares_who_may_call_it(monkeypatch, tmp_path):
    from local.localrun import functions_of

    import function_app

    http = [f for f in functions_of(function_app.app) if type(f.get_trigger()).__name__ == "HttpTrigger"]
    assert len(http) >= 9
    access = {f.get_function_name(): f.get_user_function().access for f in http}
    assert not [name for name, declared in access.items() if not isinstance(declared, Access)]
    for name in CHANGES_PRODUCTION:  # a caller identity with a role, not the function key alone
        assert access[name].roles, name
    assert access["receive_alert"].alert_sender and access["receive_alert"].deadline
    assert access["openapi_document"] is PUBLIC


def test_a_route_registered_without_declaring_its_access_is_found():
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    bp = func.Blueprint()

    @bp.route(route="forgotten", methods=["POST"])
    async def forgotten(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("anyone with the key may do this")

    @route(bp, "declared", ["GET"], FUNCTION_KEY)
    async def declared(req: func.HttpRequest, caller: None) -> func.HttpResponse:
        return func.HttpResponse("ok")

    app.register_functions(bp)
    assert undeclared(app) == ["forgotten"]
