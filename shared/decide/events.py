"""The normalized Event every trigger produces, and the entry point that turns an alert payload into one.

Pure: no I/O, no SDK. The per-schema readers live in alert_schemas.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from shared.errors import PayloadError
from shared.redact import scrub

__all__ = ["Condition", "Event", "PayloadError", "Severity", "capped", "fingerprint_of", "parse_alert"]

RAW_LIMIT = 16_000  # characters of redacted payload kept on the incident (Table properties hold 32K chars)

# Caps that keep an Event, and so the incident record, inside Table Storage's limits (a string property holds
# 32K UTF-16 characters, an entity 1 MiB) with room to spare: all of them at their worst make an `event` property
# of 23K characters. Counted in stored characters, i.e. as JSON escapes them (a control character
# takes 6, an emoji 12), so no content can make a capped value longer than its cap where it is stored.
DESCRIPTION_LIMIT = 4_000
RULE_NAME_LIMIT = 512
ID_LIMIT = 1_024  # alert id, rule id, and each target id (ARM ids are a few hundred characters)
LABEL_LIMIT = 128  # schema name, signal type, monitoring service
MAX_TARGETS = 16  # target ids kept; `targets_total` says how many the alert named
_LIMITS = {"schema_name": LABEL_LIMIT, "rule_name": RULE_NAME_LIMIT, "alert_id": ID_LIMIT, "rule_id": ID_LIMIT,
           "signal_type": LABEL_LIMIT, "monitoring_service": LABEL_LIMIT, "description": DESCRIPTION_LIMIT}
_MARKER_ROOM = 64  # `…[+1,048,576 chars, sha256:0123456789ab]` is 45 stored characters


class Severity(StrEnum):
    SEV0 = "Sev0"
    SEV1 = "Sev1"
    SEV2 = "Sev2"
    SEV3 = "Sev3"
    SEV4 = "Sev4"


class Condition(StrEnum):
    FIRED = "Fired"
    RESOLVED = "Resolved"


class Event(BaseModel):
    """One thing that happened, in the responder's words, whatever shape it arrived in."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    source: Literal["alert", "command", "sweep"]
    schema_name: str = Field(description="Which payload schema it arrived in, e.g. common/Platform.")
    rule_name: str = Field(description="The alert rule (or command action) that fired.")
    rule_id: str | None = Field(default=None, description="The alert rule's resource id, where the schema has it: "
                                                          "two rules of one name in two resource groups are two.")
    alert_id: str | None = None
    severity: Severity | None = None
    signal_type: str | None = None
    monitoring_service: str | None = None
    condition: Condition = Condition.FIRED
    target_ids: tuple[str, ...] = ()
    targets_total: int = Field(default=0, description=f"How many target ids the alert named (the first "
                                                      f"{MAX_TARGETS} are kept).")
    fired_at: datetime
    resolved_at: datetime | None = None
    description: str | None = None
    raw: str | None = Field(default=None, repr=False, description="The payload, redacted and size-capped.")
    _payload: Any = PrivateAttr(default=None)  # the payload as received: redacted into `recorded_raw` when needed

    def with_payload(self, payload: Any) -> Event:
        """This event, remembering the payload it came from (redacting it is left for when it is recorded: a
        repeated delivery, most of a storm, never is)."""
        self._payload = payload
        return self

    @property
    def recorded_raw(self) -> str | None:
        """The payload as the incident keeps it: redacted and capped."""
        if self.raw is None and self._payload is not None:
            from shared.redact import capped_json

            return capped_json(self._payload, RAW_LIMIT)
        return self.raw

    @field_validator(*_LIMITS, mode="before")
    @classmethod
    def _fits_the_store(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        if info.field_name == "description":  # free text, which may quote a connection string
            value = scrub(value)
        return capped(value, _LIMITS[info.field_name])

    @model_validator(mode="before")
    @classmethod
    def _targets_fit_the_store(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("target_ids"):
            targets = tuple(data["target_ids"])
            data = data | {"targets_total": max(len(targets), data.get("targets_total") or 0),
                           "target_ids": tuple(capped(target, ID_LIMIT) if isinstance(target, str) else target
                                               for target in targets[:MAX_TARGETS])}
        return data

    @property
    def fingerprint(self) -> str:
        """Identical for every delivery of the same alert instance and condition, whoever delivers it."""
        return fingerprint_of(self.alert_id, self.rule_id, self.rule_name, self.target_ids, self.fired_at,
                              self.condition)

    @property
    def fired_fingerprint(self) -> str:
        """The fingerprint the Fired delivery of this alert had: how a Resolved alert finds its incident."""
        return fingerprint_of(self.alert_id, self.rule_id, self.rule_name, self.target_ids, self.fired_at,
                              Condition.FIRED)

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"raw"})


def fingerprint_of(alert_id: str | None, rule_id: str | None, rule_name: str, target_ids: tuple[str, ...],
                   fired_at: datetime, condition: Condition) -> str:
    """The alert id; without one, the rule (its resource id, else its name), the targets and the time it fired.

    Capped values serve as well as whole ones: a cap's marker carries the digest of the whole value. (The
    schemas without an alert id name at most one target, so the kept targets are all of them there.)"""
    if alert_id:
        basis = f"id|{alert_id.lower()}|{condition}"
    else:
        rule = f"ruleid|{rule_id.lower()}" if rule_id else f"rule|{rule_name.lower()}"
        targets = ",".join(sorted(t.lower() for t in target_ids))
        basis = f"{rule}|{targets}|{fired_at.isoformat()}|{condition}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def capped(value: str | None, limit: int) -> str | None:
    """`value` if it is at most `limit` characters where it is stored (as JSON); else as much of its head as fits
    and a marker, `…[+912,345 chars, sha256:1a2b3c4d5e6f]`, so that a person sees it was cut and two long values
    that differ only after the cut still differ (dedup relies on that)."""
    if value is None or (len(value) <= limit and _stored_length(value) <= limit):
        return value
    budget = limit - _MARKER_ROOM
    head = value[:budget]
    if _stored_length(head) > budget:  # characters JSON escapes: find the longest head that fits
        fits, too_long = 0, len(head)
        while too_long - fits > 1:
            middle = (fits + too_long) // 2
            fits, too_long = (middle, too_long) if _stored_length(head[:middle]) <= budget else (fits, middle)
        head = head[:fits]
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{head}…[+{len(value) - len(head):,} chars, sha256:{digest}]"


def _stored_length(text: str) -> int:
    return len(json.dumps(text)) - 2


def parse_alert(payload: Any) -> Event:
    """Turn any supported Azure Monitor webhook payload into an Event, or raise PayloadError (422)."""
    from shared.decide import alert_schemas

    return alert_schemas.read(payload)
