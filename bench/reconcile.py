"""Periodic work grows with open work, not with history: one reconciler pass (which is also the approval-expiry
pass) with 10 open incidents among 100 closed ones, and among 100,000 closed ones, on the same Azurite in the
same run. Target: large/small < 1.5.

The open incidents: 5 running with a follow-up due later, 5 awaiting an approval that has not expired (so the
pass reads and decides, and writes nothing). The closed ones are written straight to the table, 100 per
transaction, as the incident store would have written them.

    python bench/reconcile.py [--closed 100000] [--passes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.processes import Azurite  # noqa: E402


async def scenario(connection: str, closed: int, passes: int) -> tuple[float, float]:
    from shared.run import reconcile
    from shared.config import Settings
    from shared.decide.incident import Incident, new_incident_id
    from shared.store.incidents import incident_entity
    from shared.decide.plan import Decision, Plan
    from shared.services import Services
    from shared.decide.status import Status

    prefix = f"b{uuid.uuid4().hex[:10]}"
    settings = Settings.from_env({"AzureWebJobsStorage": connection, "RESPONDER_QUEUE": f"q{prefix}",
                                  "RESPONDER_TABLE_PREFIX": prefix, "RESPONDER_RULES_PATH": str(ROOT / "rules.yaml")})
    now = datetime.now(timezone.utc)
    services = Services(settings, clock=lambda: now)
    plan = Plan(decision=Decision.RUN, reason="bench")
    await services._tables.table("incidents")  # created as the app creates it
    from azure.data.tables.aio import TableServiceClient

    filler = TableServiceClient.from_connection_string(connection)  # the SDK's own timeouts: bulk loading only
    table = filler.get_table_client(f"{prefix}incidents")
    start = now - timedelta(days=30)
    batch = []
    for number in range(closed):
        moment = start + timedelta(milliseconds=number * 7)
        incident = Incident(id=new_incident_id(moment), source="alert", fingerprint=uuid.uuid4().hex,
                            alert_rule="backend 5xx rate above threshold", component="backend",
                            reason="alert 'backend 5xx rate above threshold' (Sev1) fired", status=Status.RESOLVED,
                            status_reason="rollback complete", plan=plan, started_at=moment, updated_at=moment,
                            ended_at=moment)
        batch.append(("create", incident_entity(incident)))
        if len(batch) == 100:
            await table.submit_transaction(batch)
            batch = []
    if batch:
        await table.submit_transaction(batch)
    await table.close()
    await filler.close()
    for number in range(10):
        waiting = number % 2 == 0
        incident = Incident(
            id=new_incident_id(now - timedelta(seconds=number)), source="alert", fingerprint=uuid.uuid4().hex,
            alert_rule="backend 5xx", reason="bench", plan=plan, started_at=now, updated_at=now,
            status=Status.AWAITING_APPROVAL if waiting else Status.RUNNING,
            approval_expires_at=now + timedelta(minutes=30) if waiting else None,
            next_check_at=None if waiting else now + timedelta(seconds=30))
        await services.store.create(incident)
    await reconcile.reconcile(services)  # warm: connections, table clients
    samples = []
    for _ in range(passes):
        started = time.perf_counter()
        summary = await reconcile.reconcile(services)
        samples.append((time.perf_counter() - started) * 1000)
        assert not (summary.redriven or summary.failed or summary.expired), summary
    await services.aclose()
    return statistics.median(samples), max(samples)


async def main(closed: int, passes: int) -> None:
    azurite = Azurite().start()
    try:
        small_median, small_max = await scenario(azurite.connection_string, 100, passes)
        large_median, large_max = await scenario(azurite.connection_string, closed, passes)
    finally:
        azurite.stop()
    ratio = large_median / small_median
    print(f"{'history':>10} {'open':>5} {'pass median ms':>15} {'pass max ms':>12}")
    print(f"{100:>10} {10:>5} {small_median:>15.1f} {small_max:>12.1f}")
    print(f"{closed:>10} {10:>5} {large_median:>15.1f} {large_max:>12.1f}")
    print(f"ratio large/small: {ratio:.2f} (target < 1.5)")
    print(f"RESULT ratio={ratio:.2f} small_ms={small_median:.1f} large_ms={large_median:.1f} closed={closed} open=10")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--closed", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("RESPONDER_QUEUE", "bench")
    asyncio.run(main(args.closed, args.passes))
