"""The responders, one module each, registered under the stable ids that incident records store.

Adding a responder: write responders/<name>.py (KIND, precheck, execute, verify; see shared/steps.py)
and add one line below. Never rename an id: stored plans refer to it.
"""

from __future__ import annotations

from types import MappingProxyType

from responders import cache_flush, restart, swap_back
from shared.decide.plan import StepKind
from shared.run.step import Responder

REGISTRY: MappingProxyType[str, Responder] = MappingProxyType({
    "swap_back": swap_back,
    "flush_cache": cache_flush,
    "restart": restart,
})

KINDS: MappingProxyType[str, StepKind] = MappingProxyType({name: module.KIND for name, module in REGISTRY.items()})
