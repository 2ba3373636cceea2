"""flush_cache: clear stale or corrupted cache data (runbook "Redis Rollback").

Selective by pattern (`session:*`, `jwt_blacklist:*`) with SCAN + pipelined UNLINK, or full with
FLUSHALL/FLUSHDB ASYNC. A full flush logs every user out, so it requires approval unless a rule explicitly
waives it (`requires_approval: false`). A dry run counts what would go and removes nothing. The runbook's
restart to clear in-memory state is a separate `restart` step the plan chains after this one.
"""

from __future__ import annotations

import contextlib
import re
from typing import AsyncIterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.errors import ConfigurationError, Escalate
from shared.decide.plan import StepKind
from shared.redact import register_secret
from shared.run.step import Change, NoChange, StepContext

_REDIS_ID = re.compile(r"/providers/Microsoft\.Cache/Redis/(?P<name>[^/]+)$", re.IGNORECASE)
REDIS_SCOPE = "https://redis.azure.com/.default"
_MIN_LITERAL_PREFIX = 2


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    mode: Literal["selective", "full"] = Field(default="selective", description="Patterns only, or everything.")
    patterns: list[str] = Field(default_factory=list, description="Key patterns (SCAN MATCH syntax) to remove.")
    database: int | None = Field(default=None, ge=0, le=63, description="Full: FLUSHDB this database instead of "
                                 "FLUSHALL. Selective: the database to scan (default 0).")
    host: str | None = Field(default=None, description="Default: <name>.redis.cache.windows.net from the target.")
    port: int = Field(default=6380, ge=1, le=65535, description="6380 is Azure Cache for Redis' TLS port.")
    tls: bool = True
    cluster: bool = Field(default=False, description="A clustered cache: every primary is scanned / flushed, "
                          "each reached through host on its own port (an IP host: at the addresses announced).")
    auth: Literal["access_key", "entra_id", "none"] = Field(
        default="access_key", description="access_key: from Key Vault; entra_id: the app's managed identity.")
    key_vault_url: str | None = Field(default=None, description="Default: RESPONDER_KEY_VAULT_URL.")
    secret_name: str | None = Field(default=None, description="Default: RESPONDER_REDIS_SECRET_NAME.")
    username: str | None = Field(default=None, description="entra_id: the object id the cache's access policy "
                                 "names for the app's identity.")
    scan_count: int = Field(default=1000, ge=10, le=10000, description="SCAN COUNT: keys examined per call.")
    batch_size: int = Field(default=1000, ge=1, le=10000, description="Keys per UNLINK command.")
    connect_timeout: float = Field(default=5.0, gt=0)
    socket_timeout: float = Field(default=10.0, gt=0)
    verify_max_remaining: int = Field(default=0, ge=0, description="Keys still matching after the flush that "
                                      "verification tolerates (a live app writes new sessions at once).")

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if self.mode == "selective" and not self.patterns:
            raise ValueError("a selective flush needs at least one pattern (or mode: full)")
        for pattern in self.patterns if self.mode == "selective" else ():
            if len(re.split(r"[*?\[\\]", pattern, maxsplit=1)[0]) < _MIN_LITERAL_PREFIX:
                raise ValueError(f"pattern {pattern!r} must start with at least {_MIN_LITERAL_PREFIX} literal "
                                 "characters (like 'session:*'): a wildcard that can match every key is a full "
                                 "flush, so use mode: full, which requires approval")
        if self.mode == "full" and self.patterns:
            raise ValueError("a full flush takes no patterns")
        if self.auth == "entra_id" and not self.username:
            raise ValueError("auth entra_id needs username (the identity's object id in the cache's access policy)")
        return self

    @property
    def destructive(self) -> bool:
        return self.mode == "full"


KIND = StepKind(
    name="flush_cache", params=Params, expected_seconds=120, target_type="Microsoft.Cache/Redis", max_retries=2,
    component="cache", api_params=frozenset({"mode", "patterns", "database"}),
    description="Remove cache keys by pattern, or flush the cache (full flush requires approval).",
)


@contextlib.asynccontextmanager
async def _connected(ctx: StepContext[Params]) -> AsyncIterator:
    from shared.adapters.cache import Cache, CacheEndpoint

    params = ctx.params
    host = params.host
    if host is None:
        match = _REDIS_ID.search(ctx.step.target)
        if not match:
            raise ConfigurationError(f"{ctx.step.target!r} is not an Azure Cache for Redis resource id; "
                                     "give params.host")
        host = f"{match['name']}.redis.cache.windows.net"
    username, password = await _credentials(ctx)
    endpoint = CacheEndpoint(host=host, port=params.port, tls=params.tls, database=params.database or 0,
                             cluster=params.cluster, username=username, password=password,
                             connect_timeout=params.connect_timeout, socket_timeout=params.socket_timeout,
                             ca_bundle=ctx.services.settings.ca_bundle)
    cache = await Cache.connect(endpoint)
    try:
        yield cache
    finally:
        await cache.aclose()


async def _credentials(ctx: StepContext[Params]) -> tuple[str | None, str | None]:
    params = ctx.params
    settings = ctx.services.settings
    if params.auth == "none":
        return None, None
    if params.auth == "entra_id":
        from shared.adapters.azure import translated

        with translated("get a Microsoft Entra token for Redis"):
            token = await ctx.services.credential.get_token(REDIS_SCOPE)
        register_secret(token.token)
        return params.username, token.token
    secret = await ctx.services.vaults.secret(params.key_vault_url or settings.key_vault_url,
                                              params.secret_name or settings.redis_secret_name)
    return None, secret


def _where(params: Params) -> str:
    if params.mode == "full":
        return f"database {params.database}" if params.database is not None else "all databases"
    return f"database {params.database or 0}"


async def precheck(ctx: StepContext[Params]) -> str:
    async with _connected(ctx) as cache:
        size = await cache.dbsize()
    tls = "TLS" if ctx.params.tls else "no TLS"
    return f"connected to {cache.endpoint.label} ({tls}, {_where(ctx.params)}): {size:,} keys"


def _command(params: Params) -> str:
    return "FLUSHDB ASYNC" if params.database is not None else "FLUSHALL ASYNC"


async def describe(ctx: StepContext[Params]) -> Change | NoChange:
    """What would go: every key of the database or instance (full), or the keys matching each pattern, counted
    by the same SCAN the flush uses."""
    params = ctx.params
    async with _connected(ctx) as cache:
        if params.mode == "full":
            size = await cache.dbsize()
            if size == 0:
                return NoChange(f"{_where(params)} holds no key")
            return Change(f"remove all {size:,} keys of {_where(params)} ({_command(params)})")
        counts = {pattern: await cache.count(pattern, params.scan_count) for pattern in params.patterns}
    if not any(counts.values()):
        return NoChange(f"no key matches {', '.join(params.patterns)}")
    return Change("remove " + ", ".join(f"{count:,} {pattern}" for pattern, count in counts.items()) + " keys")


async def execute(ctx: StepContext[Params]) -> str:
    params = ctx.params
    async with _connected(ctx) as cache:
        if params.mode == "full":
            size = await cache.dbsize()
            await cache.flush(whole_instance=params.database is None)
            ctx.data["removed"] = {"*": size}
            return f"flushed {_where(params)} ({_command(params)}): {size:,} keys were there; every session is gone"
        counts: dict[str, int] = {}
        for pattern in params.patterns:
            removed = ctx.data.setdefault("removed", {})  # a resumed flush adds to what it removed before
            removed[pattern] = removed.get(pattern, 0) + await cache.unlink_matching(
                pattern, params.scan_count, params.batch_size)
            counts[pattern] = removed[pattern]
            await ctx.checkpoint()
    listing = ", ".join(f"{count:,} {pattern}" for pattern, count in counts.items())
    return f"removed {listing} keys (SCAN + pipelined UNLINK)"


async def verify(ctx: StepContext[Params]) -> str:
    params = ctx.params
    async with _connected(ctx) as cache:
        if params.mode == "full":
            remaining = {"*": await cache.dbsize()}
        else:
            remaining = {pattern: await cache.count(pattern, params.scan_count) for pattern in params.patterns}
    left = sum(remaining.values())
    listing = ", ".join(f"{count:,} {pattern}" for pattern, count in remaining.items())
    if left > params.verify_max_remaining:
        raise Escalate(f"after the flush {listing} keys remain (tolerated: {params.verify_max_remaining}); "
                       "the cache is being refilled faster than expected or the flush did not take")
    check = "DBSIZE" if params.mode == "full" else "a follow-up SCAN"
    return f"verified by {check}: {listing} keys remain"
