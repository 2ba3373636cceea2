"""The local demo: a broken backend release in production, an Application Insights-style 5xx alert, and the
responder putting the previous release back, printed as it happens. Everything runs on this machine:
Azurite (storage), the project's Azure emulator (tests/emulator) and the app under the local runner."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

APP = "augeo-production-api"


def swap_back_rules(**params: object) -> str:
    """The shipped backend rule (rules.yaml) with its swap_back parameters set to `params`."""
    import json

    return f"""
version: 1
defaults: {{cooldown: 30m}}
rules:
  - name: backend-5xx-swap-back
    match: {{alert_rule: ["*5xx*"], severity: [Sev0, Sev1, Sev2], signal_type: [Metric, Log]}}
    component: backend
    environment: production
    steps:
      - kind: swap_back
        target: "{{alert.target}}"
        params: {json.dumps(params)}
"""


# Verification paced for a demo: production must answer healthy 3 times, 0.5 s apart.
DEMO_RULES = swap_back_rules(slot="staging", health_path="/health", health_interval=0.5, verify_window=30,
                             verify_interval=0.5, verify_successes=3, poll_interval=0.2)
FINAL = {"resolved", "failed", "escalated", "suppressed", "rejected", "cancelled"}


def say(text: str = "") -> None:
    print(text, flush=True)


async def run_demo(keep_running: bool = False, port: int = 0) -> int:
    import httpx

    from local.emulator import Emulator
    from local.alerts import metric_alert
    from local.processes import Azurite

    say("Rollback Responder demo: backend release v1.2.3 fails in production; v1.2.2 waits in the staging slot.")
    started = time.monotonic()
    azurite = await asyncio.to_thread(Azurite().start)
    emulator = Emulator()
    runner = None
    scratch = tempfile.TemporaryDirectory(prefix="responder-demo-")
    try:
        site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
        rules = Path(scratch.name, "rules.yaml")
        rules.write_text(DEMO_RULES)
        os.environ.update({"AzureWebJobsStorage": azurite.connection_string, "RESPONDER_RULES_PATH": str(rules),
                           "RESPONDER_TABLE_PREFIX": "demo", "RESPONDER_QUEUE": "rollback-runs",
                           **emulator.settings_env()})
        from function_app import app
        from local.localrun import LocalRunner

        runner = LocalRunner(app, port=port)
        bound = await runner.start()
        base = f"http://127.0.0.1:{bound}/api"
        say(f"  storage: Azurite (table {azurite.ports['table']}, queue {azurite.ports['queue']}); "
            f"Azure: emulator at {emulator.arm_url}; app: {base} ({time.monotonic() - started:.1f} s to start)")
        async with httpx.AsyncClient(timeout=10) as client:
            health = await _health(emulator, client)
            say(f"  production /health: {health}")
            say("\n-> Azure Monitor posts: 'backend 5xx rate above threshold' (Sev1, Platform metric Http5xx)")
            sent = time.monotonic()
            answer = await client.post(f"{base}/alerts", json=metric_alert(site.id))
            body = answer.json()
            say(f"<- {answer.status_code} {body}")
            if answer.status_code != 202:
                return 1
            incident = await _follow(client, f"{base}/incidents/{body['incident_id']}", sent)
            production = emulator.release(APP)
            health = await _health(emulator, client)
        say(f"\nIncident {incident['id']}: {incident['status']} in {time.monotonic() - sent:.1f} s after the alert")
        say(f"  production now runs {production}; /health: {health}; swaps requested: {len(emulator.swaps())}")
        say(f"  see it: curl {base}/incidents/{incident['id']}")
        ok = incident["status"] == "resolved" and production == "v1.2.2"
        if keep_running:
            say("\nStill serving (Ctrl-C to stop): try  curl " + f"{base}/incidents")
            await asyncio.Event().wait()
        return 0 if ok else 1
    finally:
        if runner is not None:
            await runner.stop()
        emulator.stop()
        azurite.stop()
        scratch.cleanup()


async def _health(emulator, client) -> str:
    port = emulator.web.site(APP).slots["production"].health_port
    import ssl

    async with __import__("httpx").AsyncClient(verify=ssl.create_default_context(cafile=emulator.ca_path)) as tls:
        response = await tls.get(f"https://127.0.0.1:{port}/health")
    return f"{response.status_code} {response.json()}"


async def _follow(client, url: str, sent: float) -> dict:
    """Print timeline entries as they appear, until the incident is final (or 120 s pass)."""
    shown = 0
    incident: dict = {}
    while time.monotonic() - sent < 120:
        incident = (await client.get(url)).json()
        for entry in incident["timeline"][shown:]:
            say(f"   [{entry['time'][11:23]}] {entry['step']:<14} {entry['outcome']:<12} {entry['detail']}")
        shown = len(incident["timeline"])
        if incident["status"] in FINAL:
            return incident
        await asyncio.sleep(0.1)
    return incident
