"""Claiming the cooldowns of an incident's steps: at acceptance, and again (authoritatively) when it starts."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from shared.decide.incident import Incident
from shared.decide.plan import PlannedStep, short_target
from shared.decide.status import Status
from shared.errors import TransitionRefused

if TYPE_CHECKING:
    from shared.services import Services


def cooling_steps(incident: Incident) -> list[PlannedStep]:
    """The steps that start a cooldown on their target (a dry run starts none)."""
    return [step for step in incident.plan.steps if step.guards.cooldown and not step.guards.dry_run]


async def claim(services: Services, incident: Incident) -> bool:
    """Claim the cooldown of every step that has one, all or none: if another incident holds one, give back
    what this one claimed and suppress it, with the reason."""
    claimed: list[str] = []
    for step in cooling_steps(incident):
        held = await services.guards.claim_cooldown(step.cooldown_key, step.guards.cooldown, incident.id)
        if held.incident_id != incident.id:
            for key in claimed:
                await services.guards.release_cooldown(key, incident.id)
            reason = (f"{step.kind} on {short_target(step.target)} is in cooldown until "
                      f"{held.until:%Y-%m-%dT%H:%M:%SZ} (after incident {held.incident_id})")
            await services.store.append(incident.id, "cooldown", "suppressed", reason)
            with contextlib.suppress(TransitionRefused):  # cancelled meanwhile: it stays cancelled
                await services.store.move(incident.id, Status.SUPPRESSED, reason)
            return False
        claimed.append(step.cooldown_key)
    return True


async def release(services: Services, incident: Incident) -> None:
    """Give back the cooldowns of an incident that did not run after all."""
    for step in cooling_steps(incident):
        await services.guards.release_cooldown(step.cooldown_key, incident.id)
