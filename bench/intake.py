"""Intake latency: the `POST /api/alerts` handler, from request to 202 (incident and fingerprint written, cooldown
claimed, timeline entry written, run message enqueued), against Azurite. Target: p99 < 100 ms.

Baseline, measured in the same run against the same Azurite: the least any durable intake must do, one
Table insert plus one queue message, issued directly with the same SDKs.

    python bench/intake.py [--alerts 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.alerts import metric_alert  # noqa: E402
from local.processes import Azurite  # noqa: E402

SUB = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


async def baseline(connection: str, count: int) -> list[float]:
    from azure.data.tables.aio import TableServiceClient
    from azure.storage.queue import TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    service = TableServiceClient.from_connection_string(connection)
    table = await service.create_table_if_not_exists(f"base{uuid.uuid4().hex[:8]}")
    queue = QueueClient.from_connection_string(connection, f"base-{uuid.uuid4().hex[:8]}",
                                               message_encode_policy=TextBase64EncodePolicy())
    await queue.create_queue()
    samples = []
    for number in range(count):
        started = time.perf_counter()
        await table.create_entity({"PartitionKey": "incident", "RowKey": f"{number:08d}", "status": "accepted"})
        await queue.send_message('{"incident_id": "x"}')
        samples.append((time.perf_counter() - started) * 1000)
    await queue.close()
    await table.close()
    await service.close()
    return samples


async def intake(alerts: int) -> tuple[list[float], list[float]]:
    import azure.functions as func

    from function_app import app
    from shared import services
    from local.localrun import functions_of

    handler = {f.get_function_name(): f.get_user_function() for f in functions_of(app)}["receive_alert"]

    async def post(payload: bytes) -> float:
        request = func.HttpRequest("POST", "http://localhost/api/alerts", headers={}, body=payload)
        started = time.perf_counter()
        response = await handler(request)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code in (200, 202), response.get_body()
        return elapsed

    import json

    def site(number: int) -> str:
        return f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/app-{number:05d}"

    await post(json.dumps(metric_alert(site(99999))).encode())  # first call pays for imports and connections
    distinct = [await post(json.dumps(metric_alert(site(n))).encode()) for n in range(alerts)]
    duplicate_payload = json.dumps(metric_alert(site(0))).encode()
    duplicates = [await post(duplicate_payload) for _ in range(alerts)]
    await services.current().aclose()
    return distinct, duplicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    args = parser.parse_args()
    azurite = Azurite().start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rules = Path(scratch, "rules.yaml")
            rules.write_text((ROOT / "rules.yaml").read_text())
            os.environ.update({"AzureWebJobsStorage": azurite.connection_string, "RESPONDER_RULES_PATH": str(rules),
                               "RESPONDER_TABLE_PREFIX": f"b{uuid.uuid4().hex[:8]}", "RESPONDER_QUEUE": "bench-runs"})
            base = asyncio.run(baseline(azurite.connection_string, args.alerts))
            distinct, duplicates = asyncio.run(intake(args.alerts))
    finally:
        azurite.stop()
    rows = {"baseline (1 insert + 1 enqueue)": base, "intake, distinct alerts": distinct,
            "intake, duplicate deliveries": duplicates}
    print(f"{'':<34}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, samples in rows.items():
        p50, p99 = percentiles(samples)
        print(f"{name:<34}{p50:>9.2f}{p99:>9.2f}{max(samples):>9.2f}")
    b50, _ = percentiles(base)
    d50, d99 = percentiles(distinct)
    u50, u99 = percentiles(duplicates)
    print(f"distinct p50 is {d50 / b50:.2f}x the baseline; duplicates p50 {u50 / b50:.2f}x; target p99 < 100 ms")
    print(f"RESULT alerts={args.alerts} distinct_p50_ms={d50:.2f} distinct_p99_ms={d99:.2f} "
          f"duplicate_p50_ms={u50:.2f} duplicate_p99_ms={u99:.2f} baseline_p50_ms={b50:.2f} "
          f"ratio_p50_vs_baseline={d50 / b50:.2f} target_p99_ms=100 met={'yes' if max(d99, u99) < 100 else 'no'}")


if __name__ == "__main__":
    main()
