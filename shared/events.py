"""The normalized Event every trigger produces, and the entry point that turns an alert payload into one.

Pure: no I/O, no SDK. The per-schema readers live in alert_schemas.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import PayloadError

__all__ = ["Condition", "Event", "PayloadError", "Severity", "fingerprint_of", "parse_alert"]

RAW_LIMIT = 16_000  # characters of redacted payload kept on the incident (Table properties hold 32K chars)


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
    alert_id: str | None = None
    severity: Severity | None = None
    signal_type: str | None = None
    monitoring_service: str | None = None
    condition: Condition = Condition.FIRED
    target_ids: tuple[str, ...] = ()
    fired_at: datetime
    resolved_at: datetime | None = None
    description: str | None = None
    raw: str | None = Field(default=None, repr=False, description="The payload, redacted and size-capped.")

    @property
    def fingerprint(self) -> str:
        """Identical for every delivery of the same alert instance and condition, whoever delivers it."""
        return fingerprint_of(self.alert_id, self.rule_name, self.target_ids, self.fired_at, self.condition)

    @property
    def fired_fingerprint(self) -> str:
        """The fingerprint the Fired delivery of this alert had: how a Resolved alert finds its incident."""
        return fingerprint_of(self.alert_id, self.rule_name, self.target_ids, self.fired_at, Condition.FIRED)

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"raw"})


def fingerprint_of(
    alert_id: str | None, rule_name: str, target_ids: tuple[str, ...], fired_at: datetime, condition: Condition
) -> str:
    if alert_id:
        basis = f"id|{alert_id.lower()}|{condition}"
    else:
        targets = ",".join(sorted(t.lower() for t in target_ids))
        basis = f"rule|{rule_name.lower()}|{targets}|{fired_at.isoformat()}|{condition}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def parse_alert(payload: Any) -> Event:
    """Turn any supported Azure Monitor webhook payload into an Event, or raise PayloadError (422)."""
    from shared import alert_schemas

    return alert_schemas.read(payload)
