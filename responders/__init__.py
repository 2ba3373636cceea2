"""The responders, one module each, registered under the stable ids that incident records store.

Adding a responder: write responders/<name>.py (its KIND, whose `name` is its id, and precheck, describe,
execute, verify; see shared/run/step.py) and add its module to the line below. Never rename an id: stored plans
refer to it. Two responders with one id are refused here, at import.
"""

from __future__ import annotations

from responders import cache_flush, restart, swap_back
from shared.run.step import kinds_of, registry

REGISTRY = registry(swap_back, cache_flush, restart)

KINDS = kinds_of(REGISTRY)
