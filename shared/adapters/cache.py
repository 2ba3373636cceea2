"""Redis adapter (redis.asyncio): connect as Azure Cache for Redis needs it, flush selectively or fully, and
translate redis-py errors into the responder's tree. The only module that imports redis.

Selective flushes never use KEYS or one blocking scan: a SCAN ... MATCH ... COUNT cursor walks the keyspace
of every primary while a second connection UNLINKs the keys found so far, in pipelined batches, so the two
overlap and no single command holds the server for more than about a millisecond.

A clustered Azure Cache for Redis names its shards by IP address (CLUSTER SLOTS: the cache's IP, ports 15000,
15001, ... over TLS) while its certificate names only <name>.redis.cache.windows.net, so every node is reached
through the configured host name on the node's own port (`NodeAddresses`) and TLS verification stays on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import ssl
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator

from shared.errors import CacheAuthFailed, CacheTLSFailed, CacheUnavailable, ConfigurationError

_QUEUE_DEPTH = 8  # scan replies waiting to be unlinked: bounds memory on huge keyspaces


@dataclass(frozen=True)
class CacheEndpoint:
    host: str
    port: int
    tls: bool
    database: int
    cluster: bool
    username: str | None
    password: str | None = field(repr=False)
    connect_timeout: float
    socket_timeout: float
    ca_bundle: str | None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@contextlib.contextmanager
def translated(endpoint: CacheEndpoint, what: str) -> Iterator[None]:
    """redis-py's exceptions -> CacheAuthFailed / CacheTLSFailed / CacheUnavailable, never with the password."""
    from redis import exceptions as redis_errors

    where = f"{what} on {endpoint.label}"
    try:
        yield
    except redis_errors.AuthenticationError as error:
        raise CacheAuthFailed(f"{where}: Redis refused the credentials ({_first_word(error)}); check the access "
                              "key secret in Key Vault or the identity's Redis access policy") from None
    except redis_errors.ResponseError as error:
        text = str(error)
        # In a pipeline redis-py rewrites the text ("Command # 1 (...) of pipeline caused error: ..."), dropping the
        # error code; the exception keeps it as status_code.
        code = getattr(error, "status_code", None) or _first_word(error)
        if code in ("WRONGPASS", "NOAUTH", "NOPERM") or "invalid password" in text:
            raise CacheAuthFailed(f"{where}: Redis refused the credentials or the command ({code})") from None
        raise CacheUnavailable(f"{where}: Redis answered an error: {text[:200]}", delay=5.0) from None
    except (redis_errors.TimeoutError, asyncio.TimeoutError):
        raise CacheUnavailable(f"{where}: Redis did not answer within {endpoint.socket_timeout:g} s", delay=5.0
                               ) from None
    except redis_errors.ClusterError as error:  # redis-py stopped following redirects ("TTL exhausted")
        raise CacheUnavailable(f"{where}: the cluster kept redirecting the command ({str(error)[:200]}); a reshard "
                               "or failover is probably under way", delay=10.0) from None
    except redis_errors.RedisClusterException as error:  # the cluster client's own: no node reached, no cluster
        if isinstance(error.__cause__, (redis_errors.ConnectionError, OSError)):
            raise _connection_failed(where, error.__cause__) from None
        if "Cluster mode is not enabled" in str(error):
            raise ConfigurationError(f"{where}: the server is not a Redis Cluster (set cluster: false)") from None
        raise CacheUnavailable(f"{where}: {str(error)[:200]}", delay=5.0) from None
    except (redis_errors.ConnectionError, OSError) as error:
        raise _connection_failed(where, error) from None


def _connection_failed(where: str, error: Exception) -> Exception:
    text = str(error)
    cause = error.__cause__ or error.__context__
    # An SSL error on a connection that was already up (closed under a read during a topology refresh) is a
    # dropped connection, not a handshake that a retry cannot fix.
    established = "while reading from" in text or "while writing to" in text
    if not established and (isinstance(cause, ssl.SSLError) or "SSL" in text or "CERTIFICATE" in text.upper()):
        return CacheTLSFailed(f"{where}: TLS handshake failed ({text[:200]}); is the port the TLS port (6380) and "
                              "is the server's certificate trusted?")
    if "refused" in text.lower() or "111" in text:
        return CacheUnavailable(f"{where}: Redis refused the connection (is it running, is the port right?)",
                                delay=2.0)
    return CacheUnavailable(f"{where}: connection failed ({text[:200]})", delay=3.0)


def _first_word(error: Exception) -> str:
    return (str(error).split() or [type(error).__name__])[0].rstrip(":")


class NodeAddresses:
    """redis-py's `address_remap` for a cluster reached by host name: each node the topology announces is reached
    at the configured host on the node's own port, so TLS checks the certificate against that host name."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.announced: dict[int, set[str]] = {}  # port -> the hosts the topology named on it

    @classmethod
    def for_host(cls, host: str) -> NodeAddresses | None:
        """None (the topology's addresses are used as announced) when the configured host is an IP address: a
        certificate then has to name that IP, and the nodes' own IPs are verified the same way, while mapping
        nodes that announce different IPs onto the one configured IP would merge any that share a port."""
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(host.strip("[]"))
            return None
        return cls(host)

    def __call__(self, address: tuple[str, int]) -> tuple[str, int]:
        host, port = address
        self.announced.setdefault(int(port), set()).add(host)
        return self.host, int(port)

    def check(self) -> None:
        """Refuse a topology whose nodes cannot all be told apart through one host (different addresses on the
        same port: not the Azure layout), since flushing through it would reach only some of the primaries."""
        shared = {port: sorted(hosts) for port, hosts in self.announced.items() if len(hosts) > 1}
        if shared:
            listing = "; ".join(f"port {port}: {', '.join(hosts)}" for port, hosts in sorted(shared.items()))
            raise ConfigurationError(f"the cluster behind {self.host} announces nodes on different addresses with "
                                     f"the same port ({listing}), so they cannot all be reached through "
                                     f"{self.host}; give params.host as an IP address to use the addresses as "
                                     "announced")


@functools.cache
def _cluster_class():
    """redis-py's asyncio RedisCluster whose node lookups go through the remap too. redis-py (8.1) remaps only the
    addresses CLUSTER SLOTS names, not those of MOVED and ASK redirects, so during a reshard or failover a
    redirect names a node by an IP the cache has no node for: ASK then crashed the command, and MOVED made a node
    for the IP, which the certificate does not cover. Its ASKING can also go out on another pooled connection
    than the redirected command, which the new owner then bounces back with MOVED to the old owner's IP. Looked up
    through the remap, both are the known nodes. A MOVED to a node not known yet still fails on TLS once; redis-py
    then re-reads the topology, through the remap, and retries."""
    from redis.asyncio.cluster import NodesManager, RedisCluster, get_node_name

    class RemappedNodes(NodesManager):
        __slots__ = ()

        def get_node(self, host=None, port=None, node_name=None):
            node = super().get_node(host, port, node_name)
            if node is None and self.address_remap is not None:  # an address a redirect named
                if node_name:
                    host, _, port = node_name.rpartition(":")
                if host and port:
                    node = super().get_node(node_name=get_node_name(*self.address_remap((host, int(port)))))
            return node

    class RemappedCluster(RedisCluster):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.nodes_manager.__class__ = RemappedNodes  # RedisCluster builds its NodesManager itself

    return RemappedCluster


class Cache:
    """A connected Redis (standalone or cluster)."""

    def __init__(self, endpoint: CacheEndpoint, client) -> None:
        self.endpoint, self._client = endpoint, client

    @classmethod
    async def connect(cls, endpoint: CacheEndpoint) -> Cache:
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        # A quick retry for a dropped connection; anything longer is the executor's (a delayed, re-queued step).
        options = dict(host=endpoint.host, port=endpoint.port, username=endpoint.username,
                       password=endpoint.password, socket_connect_timeout=endpoint.connect_timeout,
                       socket_timeout=endpoint.socket_timeout, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2))
        if endpoint.tls:
            options.update(ssl=True, ssl_cert_reqs="required", ssl_ca_certs=endpoint.ca_bundle)
        addresses = None
        if endpoint.cluster:
            if endpoint.database:
                raise ConfigurationError("a Redis Cluster has only database 0")
            addresses = NodeAddresses.for_host(endpoint.host)
            client = _cluster_class()(address_remap=addresses, **options)
        else:
            from redis.asyncio import Redis

            client = Redis(db=endpoint.database, **options)
        cache = cls(endpoint, client)
        try:
            with translated(endpoint, "connect"):
                await client.ping()  # a cluster client reads the topology first
            if addresses is not None:
                addresses.check()
        except BaseException:
            await cache.aclose()
            raise
        return cache

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()

    def _primaries(self) -> list:
        return self._client.get_primaries() if self.endpoint.cluster else [None]

    async def dbsize(self) -> int:
        with translated(self.endpoint, "DBSIZE"):
            if not self.endpoint.cluster:
                return await self._client.dbsize()
            sizes = await asyncio.gather(*(self._client.dbsize(target_nodes=node) for node in self._primaries()))
            return sum(sum(size.values()) if isinstance(size, dict) else size for size in sizes)

    async def _scan(self, pattern: str, count: int) -> AsyncIterator[list[bytes]]:
        """Batches of keys matching `pattern`, every primary's keyspace walked once with a SCAN cursor."""
        for node in self._primaries():
            cursor = None
            while cursor != 0:
                with translated(self.endpoint, f"SCAN {pattern}"):
                    if node is None:
                        cursor, keys = await self._client.scan(cursor or 0, match=pattern, count=count)
                    else:  # the cluster client answers ({node name: cursor}, keys) for a targeted SCAN
                        cursors, keys = await self._client.scan(cursor or 0, match=pattern, count=count,
                                                                target_nodes=node)
                        cursor = next(iter(cursors.values())) if isinstance(cursors, dict) else cursors
                if keys:
                    yield keys

    async def count(self, pattern: str, count: int = 1000) -> int:
        return sum([len(keys) async for keys in self._scan(pattern, count)])

    async def unlink_matching(self, pattern: str, count: int = 1000, batch: int = 1000) -> int:
        """UNLINK every key matching `pattern`; returns how many were removed. Scanning and unlinking overlap."""
        found: asyncio.Queue[list[bytes] | None] = asyncio.Queue(_QUEUE_DEPTH)

        async def scan() -> None:
            try:
                async for keys in self._scan(pattern, count):
                    for start in range(0, len(keys), batch):
                        await found.put(keys[start:start + batch])
            except asyncio.CancelledError:
                raise  # the unlinking failed: nobody reads the queue any more, so no end mark (it could block)
            except BaseException:
                await found.put(None)
                raise
            await found.put(None)

        async def unlink() -> int:
            removed, done = 0, False
            while not done:
                batches = [await found.get()]
                while not found.empty() and len(batches) < _QUEUE_DEPTH:  # pipeline whatever is ready
                    batches.append(found.get_nowait())
                done = batches[-1] is None
                batches = [keys for keys in batches if keys]
                if batches:
                    removed += await self._unlink_batches(batches)
            return removed

        scanner = asyncio.ensure_future(scan())
        try:
            removed = await unlink()
        finally:
            if not scanner.done():
                scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scanner
        return removed

    async def _unlink_batches(self, batches: list[list[bytes]]) -> int:
        with translated(self.endpoint, "UNLINK"):
            if self.endpoint.cluster:  # keys of many slots: the cluster client splits them by slot
                return sum(await asyncio.gather(*(self._client.unlink(*keys) for keys in batches)))
            pipe = self._client.pipeline(transaction=False)
            for keys in batches:
                pipe.unlink(*keys)
            return sum(await pipe.execute())

    async def flush(self, whole_instance: bool) -> None:
        """FLUSHALL ASYNC (every database, every primary), or FLUSHDB ASYNC of the connected database."""
        with translated(self.endpoint, "FLUSH"):
            if self.endpoint.cluster:
                await asyncio.gather(*(self._client.flushall(asynchronous=True, target_nodes=node)
                                       for node in self._primaries()))
            elif whole_instance:
                await self._client.flushall(asynchronous=True)
            else:
                await self._client.flushdb(asynchronous=True)
