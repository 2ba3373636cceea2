"""How a clustered cache's node addresses are reached (shared.adapters.cache.NodeAddresses): pure, no Redis."""

from __future__ import annotations

import pytest

from shared.adapters.cache import NodeAddresses
from shared.errors import ConfigurationError

AZURE_HOST = "augeo-production-redis.redis.cache.windows.net"


def test_every_announced_node_is_reached_through_the_host_name_on_its_own_port():
    remap = NodeAddresses.for_host(AZURE_HOST)
    # a clustered Azure cache: its IP on per-shard TLS ports (primaries and replicas), some named more than once
    announced = [("20.50.1.7", 15000), ("20.50.1.7", 15001), ("20.50.1.7", 15002), ("20.50.1.7", "15003"),
                 ("20.50.1.7", 15000)]
    assert [remap(address) for address in announced] == [
        (AZURE_HOST, 15000), (AZURE_HOST, 15001), (AZURE_HOST, 15002), (AZURE_HOST, 15003), (AZURE_HOST, 15000)]
    remap.check()  # the Azure layout: one address per port


@pytest.mark.parametrize("host", ["10.0.0.4", "::1", "[fd00::4]"])
def test_a_cache_configured_by_ip_address_uses_the_topology_as_announced(host):
    assert NodeAddresses.for_host(host) is None


def test_nodes_that_share_a_port_on_different_addresses_are_refused_not_merged():
    remap = NodeAddresses.for_host("redis.internal.example")
    for address in [("10.0.0.4", 6379), ("10.0.0.5", 6379), ("10.0.0.6", 6379), ("10.0.0.4", 6380)]:
        remap(address)
    with pytest.raises(ConfigurationError) as refused:
        remap.check()
    message = str(refused.value)
    assert "port 6379: 10.0.0.4, 10.0.0.5, 10.0.0.6" in message and "6380" not in message
    assert "give params.host as an IP address" in message
