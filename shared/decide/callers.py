"""Who a caller is and what they may do, as the rest of the app sees it. Pure: the tokens and headers that
prove an identity are read in shared/adapters/identity.py.

A caller's id is canonical, `<tenant id>/<object id>` as lower-case GUIDs, so one person is one id however a
token or a header spells the GUID (an upper-cased object id once approved its own full flush).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.errors import RequestRefused

OPERATOR = "Responder.Operator"
APPROVER = "Responder.Approver"
SECURE_WEBHOOK = "ActionGroupsSecureWebhook"


@dataclass(frozen=True)
class Caller:
    tenant_id: str  # canonical GUID
    object_id: str  # canonical GUID
    name: str
    roles: frozenset[str]
    via: str

    @property
    def id(self) -> str:
        """The canonical identity: what incidents record as requester_id and approvals compare."""
        return f"{self.tenant_id}/{self.object_id}"

    def __str__(self) -> str:
        return f"{self.name} ({self.id}, {self.via})"


def same_person(recorded: str | None, caller: Caller) -> bool:
    """Whether an incident's requester_id names `caller`. Compared canonically, and defensively for records
    written before ids were canonical (a bare object id, any case, braces): when a record names no tenant, the
    object id alone decides, so such a record still refuses its own requester."""
    if not recorded:
        return False
    tenant, _, subject = recorded.strip().rpartition("/")
    if (canonical_guid(subject) or subject.casefold()) != caller.object_id:
        return False
    return not tenant or (canonical_guid(tenant) or tenant.casefold()) == caller.tenant_id


def require(caller: Caller, *roles: str) -> None:
    """403 unless the caller has one of `roles`."""
    if not caller.roles.intersection(roles):
        held = ", ".join(sorted(caller.roles)) or "none"
        raise RequestRefused(403, "forbidden", f"{caller.name} lacks the role {' or '.join(roles)} (has: {held})")


def canonical_guid(value: Any) -> str | None:
    """A GUID as Entra compares it: lower case, hyphenated, braces stripped; None if `value` is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def roles_of(value: Any) -> frozenset[str]:
    """The `roles` claim as a set: a list of roles, or a single role given as a string."""
    if isinstance(value, str):
        return frozenset([value]) if value else frozenset()
    if isinstance(value, (list, tuple)):
        return frozenset(str(role) for role in value)
    return frozenset()
