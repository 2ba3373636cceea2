"""An alert storm: 10,000 webhook deliveries from 32 concurrent clients through the local runner's real HTTP path
on Azurite (the executor runs meanwhile, as it would), beside a baseline in the same run: the same number of raw
"insert one entity + enqueue one message" calls at the same concurrency, with the same SDKs. Targets: throughput
at least half the baseline's (ratio >= 0.5), p99 < 300 ms.

The deliveries, shuffled: distinct alerts (one bad release firing on 20 apps), duplicate deliveries of them
(Azure Monitor's retries, two instances), Resolved deliveries for alerts that fired, and garbage (not JSON, no
known schema). The deliveries come from another process, as Azure Monitor's come from elsewhere. Afterwards it
checks the outcome: one incident per distinct alert that fired, one swap per app at most.

    python bench/storm.py [--deliveries 10000] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.demo import DEMO_RULES  # noqa: E402
from local.emulator import Emulator  # noqa: E402
from local.alerts import metric_alert  # noqa: E402
from local.processes import Azurite  # noqa: E402

APPS = 20


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def deliveries(emulator: Emulator, total: int, rng: random.Random) -> tuple[list[bytes], int]:
    """The storm's bodies, shuffled (Fired before its Resolved is not guaranteed, as on a real bad day)."""
    sites = [emulator.add_app(f"storm-api-{n:02d}", production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
             for n in range(APPS)]
    distinct = total * 20 // 100
    fired = [metric_alert(sites[n % APPS].id) for n in range(distinct)]
    bodies = [json.dumps(alert).encode() for alert in fired]
    for _ in range(total * 50 // 100):
        bodies.append(json.dumps(rng.choice(fired)).encode())
    for alert in rng.sample(fired, total * 15 // 100 if total * 15 // 100 <= distinct else distinct):
        resolved = json.loads(json.dumps(alert))
        resolved["data"]["essentials"]["monitorCondition"] = "Resolved"
        resolved["data"]["essentials"]["resolvedDateTime"] = resolved["data"]["essentials"]["firedDateTime"]
        bodies.append(json.dumps(resolved).encode())
    garbage = [b"{not json", b'{"hello": "world"}', b"[1, 2, 3]", b"",
               json.dumps({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {}}}).encode()]
    while len(bodies) < total:
        bodies.append(rng.choice(garbage))
    rng.shuffle(bodies)
    return bodies[:total], distinct


async def fire(url: str, bodies: list[bytes], clients: int) -> tuple[list[float], float, dict[str, int]]:
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    by_status: dict[str, list[float]] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            answer = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
            by_status.setdefault(str(answer.status_code), []).append(latencies[-1])

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    for status, samples in sorted(by_status.items()):
        print(f"  {status}: p50 {statistics.median(samples):.0f} ms, p99 {p(samples, 0.99):.0f} ms", file=sys.stderr)
    return latencies, elapsed, statuses


async def baseline(connection: str, count: int, clients: int) -> tuple[list[float], float]:
    from azure.data.tables.aio import TableServiceClient
    from azure.storage.queue import TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    service = TableServiceClient.from_connection_string(connection)
    table = await service.create_table_if_not_exists(f"base{uuid.uuid4().hex[:8]}")
    queue = QueueClient.from_connection_string(connection, f"base-{uuid.uuid4().hex[:8]}",
                                               message_encode_policy=TextBase64EncodePolicy())
    await queue.create_queue()
    latencies: list[float] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            started = time.perf_counter()
            await table.create_entity({"PartitionKey": "incident", "RowKey": f"{number:08d}", "status": "accepted",
                                       "reason": "alert 'backend 5xx rate above threshold' (Sev1) fired"})
            await queue.send_message(json.dumps({"incident_id": f"inc-{number}", "reason": "accepted"}))
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    await queue.close()
    await table.close()
    await service.close()
    return latencies, elapsed


async def fire_from_another_process(url: str, bodies: list[bytes], clients: int, scratch: str) -> dict:
    path = Path(scratch, "bodies.txt")
    path.write_text("\n".join(base64.b64encode(body).decode() for body in bodies))
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, "--fire", url, str(path),
                                                   "--clients", str(clients), stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    assert process.returncode == 0, "the load generator failed"
    return json.loads(out)


async def storm(emulator: Emulator, connection: str, total: int, clients: int, scratch: str) -> dict:
    import httpx

    from function_app import app
    from local.localrun import LocalRunner

    bodies, distinct = deliveries(emulator, total, random.Random(7))
    runner = LocalRunner(app, timers=False, port=0)
    port = await runner.start()
    try:
        url = f"http://127.0.0.1:{port}/api/alerts"
        async with httpx.AsyncClient() as warm:  # imports, connections, tables and queue created
            await warm.post(url, content=b"{}")
        fired = await fire_from_another_process(url, bodies, clients, scratch)
        await asyncio.sleep(3)  # let the executor finish what it started
        from shared.services import current

        per_alert: dict[str, int] = {}
        cursor = None
        while True:
            page = await current().store.list(limit=200, cursor=cursor)
            for incident in page.items:
                if incident.event.get("condition") == "Fired":
                    per_alert[incident.event["alert_id"]] = per_alert.get(incident.event["alert_id"], 0) + 1
            cursor = page.next_cursor
            if not cursor:
                break
    finally:
        await runner.stop()
    swaps: dict[str, int] = {}
    for request in emulator.swaps():
        name = request.path.split("/sites/")[1].split("/")[0]
        swaps[name] = swaps.get(name, 0) + 1
    base_latencies, base_elapsed = await baseline(connection, total, clients)
    return {**fired, "per_alert": per_alert, "distinct": distinct, "swaps": swaps,
            "base_latencies": base_latencies, "base_elapsed": base_elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--fire", nargs=2, metavar=("URL", "BODIES"), help=argparse.SUPPRESS)  # the load generator
    args = parser.parse_args()
    if args.fire:
        url, path = args.fire
        bodies = [base64.b64decode(line) for line in Path(path).read_text().splitlines()]
        latencies, elapsed, statuses = asyncio.run(fire(url, bodies, args.clients))
        print(json.dumps({"latencies": latencies, "elapsed": elapsed, "statuses": statuses}))
        return
    azurite = Azurite().start()
    emulator = Emulator()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rules = Path(scratch, "rules.yaml")
            rules.write_text(DEMO_RULES)
            os.environ.update({"AzureWebJobsStorage": azurite.connection_string, "RESPONDER_RULES_PATH": str(rules),
                               "RESPONDER_TABLE_PREFIX": f"s{uuid.uuid4().hex[:8]}", "RESPONDER_QUEUE": "storm-runs",
                               **emulator.settings_env()})
            result = asyncio.run(storm(emulator, azurite.connection_string, args.deliveries, args.clients, scratch))
    finally:
        emulator.stop()
        azurite.stop()
    rate = args.deliveries / result["elapsed"]
    base_rate = args.deliveries / result["base_elapsed"]
    lat, base = result["latencies"], result["base_latencies"]
    ratio = rate / base_rate
    print(f"{args.deliveries} deliveries from {args.clients} clients; answers: {dict(sorted(result['statuses'].items()))}")
    once = sum(1 for count in result["per_alert"].values() if count == 1)
    print(f"distinct alerts that fired: {result['distinct']}; with exactly one incident: {once}; with more: "
          f"{sum(1 for count in result['per_alert'].values() if count > 1)}")
    print(f"swaps per app: max {max(result['swaps'].values(), default=0)} over {len(result['swaps'])} apps")
    print(f"{'':<34}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'storm through the app':<34}{rate:>8.0f}{statistics.median(lat):>9.1f}{p(lat, 0.99):>9.1f}")
    print(f"{'baseline: insert + enqueue':<34}{base_rate:>8.0f}{statistics.median(base):>9.1f}{p(base, 0.99):>9.1f}")
    print(f"throughput ratio {ratio:.2f} (target >= 0.5); p99 {p(lat, 0.99):.0f} ms (target < 300)")
    ok = once == result["distinct"] == len(result["per_alert"]) and max(result["swaps"].values(), default=0) <= 1
    print(f"RESULT deliveries_per_s={rate:.0f} p99_ms={p(lat, 0.99):.0f} baseline_per_s={base_rate:.0f} "
          f"ratio={ratio:.2f} p50_ms={statistics.median(lat):.1f} distinct={result['distinct']} "
          f"exactly_once={'yes' if ok else 'no'}")


if __name__ == "__main__":
    main()
