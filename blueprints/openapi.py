"""The OpenAPI 3 document of the HTTP API, built from the same pydantic models the handlers validate with.
tests/e2e/test_command_api.py checks that its paths and methods are exactly the app's HTTP triggers."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from shared.decide.commands import ActionRequest, Decision
from shared.decide.incident import Incident, StepProgress, TimelineEntry
from shared.decide.status import Status


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code: invalid_json, unknown_schema, unauthorized, forbidden, ...")
    message: str = Field(description="What is wrong, for a person.")
    problems: list[str] | None = Field(default=None, description="Each wrong field, when there are several.")


class Accepted(BaseModel):
    incident_id: str
    status: Status
    duplicate: bool
    plan: str
    url: str | None = None


class IncidentPage(BaseModel):
    items: list[Incident]
    next_cursor: str | None = None


class IncidentDetail(Incident):
    timeline: list[TimelineEntry]
    steps: list[StepProgress]


_ERRORS = {400: "Not JSON, or bad query parameters", 401: "No or an invalid caller identity",
           403: "The caller lacks the role (or may not approve its own destructive request)",
           404: "No such incident", 409: "The incident is not in a state that allows this",
           413: "Body over 1 MiB", 422: "Valid JSON of the wrong shape; each wrong field is named",
           503: "The incident store or the token signing keys are unavailable, or the app is misconfigured "
                "(`misconfigured` names the setting or rule); nothing was accepted: retry (Retry-After)"}
_ALERT_ERRORS = {401: "No token where one is required (RESPONDER_ALERTS_REQUIRE_TOKEN), or an invalid one",
                 403: "A valid token, but not from the AzNS AAD Webhook app or without the app role "
                      "ActionGroupsSecureWebhook"}
_INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": r"^inc-\d{8}-\d{9}-[0-9a-f]{6}$"}}
_COMMAND_AUTH = [{"functionKey": [], "bearer": []}, {"functionKey": [], "appServiceAuthentication": []}]


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json("ErrorBody", _ERRORS[code]) for code in codes}


def _alert_errors() -> dict[str, Any]:
    return {str(code): _json("ErrorBody", text) for code, text in _ALERT_ERRORS.items()}


def _decision(verb: str, summary: str) -> dict[str, Any]:
    return {"post": {
        "operationId": f"{verb}_incident", "summary": summary, "security": _COMMAND_AUTH,
        "parameters": [_INCIDENT_ID],
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Decision"}}}},
        "responses": {"200": _json("Incident", "The incident after the decision"),
                      **_errors(400, 401, 403, 404, 409, 413, 422, 503)}}}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in (ErrorBody, Accepted, IncidentPage, IncidentDetail, Incident, ActionRequest, Decision):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    paths = {
        "/api/alerts": {"post": {
            "operationId": "receive_alert", "summary": "Azure Monitor alert webhook (every supported schema)",
            "description": "The function key, and with Secure Webhook the action group's Microsoft Entra ID "
                           "token (required when RESPONDER_ALERTS_REQUIRE_TOKEN is on; checked whenever sent).",
            "security": [{"functionKey": []}, {"functionKey": [], "bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"202": _json("Accepted", "Recorded (and queued unless suppressed or awaiting approval)"),
                          "200": _json("Accepted", "The same alert again: nothing new is done"),
                          **_errors(400), **_alert_errors(), **_errors(413, 422, 503)}}},
        "/api/incidents": {"get": {
            "operationId": "list_incidents", "summary": "Incidents, newest first, paged",
            "security": [{"functionKey": []}],
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in Status]}},
                {"name": "component", "in": "query", "schema": {"type": "string", "maxLength": 128}},
                {"name": "since", "in": "query", "description": "ISO 8601 time, or a duration such as 2h",
                 "schema": {"type": "string", "maxLength": 64}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                {"name": "cursor", "in": "query", "description": "the next_cursor of the previous page",
                 "schema": {"type": "string", "maxLength": 1024, "pattern": "^[A-Za-z0-9_-]*$"}}],
            "responses": {"200": _json("IncidentPage", "One page"), **_errors(400, 503)}}},
        "/api/incidents/{incident_id}": {"get": {
            "operationId": "get_incident", "summary": "One incident with its timeline and step records",
            "security": [{"functionKey": []}], "parameters": [_INCIDENT_ID],
            "responses": {"200": _json("IncidentDetail", "The incident"), **_errors(404, 503)}}},
        "/api/actions": {"post": {
            "operationId": "request_action", "summary": "Request an action (swap_back, flush_cache, restart, ...)",
            "security": _COMMAND_AUTH,
            "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"},
                            "description": "The same key from the same caller finds the incident it created"}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ActionRequest"}}}},
            "responses": {"202": _json("Accepted", "Recorded and queued (or awaiting approval, or suppressed)"),
                          "200": _json("Accepted", "The same Idempotency-Key again"),
                          **_errors(400, 401, 403, 413, 422, 503)}}},
        "/api/incidents/{incident_id}/approve": _decision("approve", "Approve (Responder.Approver; for a destructive "
                                                                     "action, not its requester)"),
        "/api/incidents/{incident_id}/reject": _decision("reject", "Reject (Responder.Approver)"),
        "/api/incidents/{incident_id}/cancel": _decision("cancel", "Cancel (Responder.Operator or Approver)"),
        "/api/ready": {"get": {"operationId": "readiness", "summary": "Is this deployment able to work: settings, "
                               "rules and the incident store, checked now", "security": [{"functionKey": []}],
                               "responses": {"200": {"description": "Ready: the rules loaded", "content": {
                                   "application/json": {"schema": {"type": "object"}}}}, **_errors(503)}}},
        "/api/openapi.json": {"get": {"operationId": "openapi_document", "summary": "This document",
                                      "security": [], "responses": {"200": {"description": "OpenAPI 3 document"}}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Rollback Responder", "version": "1.0.0",
                 "description": "Alert intake, incident records and the command API of the Rollback Responder."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "appServiceAuthentication": {"type": "apiKey", "in": "header", "name": "X-MS-CLIENT-PRINCIPAL"}}},
    }
