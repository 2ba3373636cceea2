"""Hostile input: an alert whose `description` is one run of letters (20 KiB, 200 KiB, 900 KiB, the last just under
the 1 MiB body limit), through scrub() alone and through the `POST /api/alerts` handler to its answer (decode,
parse, redact, cap, record on Azurite, enqueue).

Baselines, measured in the same run: `json.loads` of the same body, the least any JSON endpoint must do, and the
same alert with an ordinary 60-character description (intake is mostly storage round trips). Redaction
was quadratic on such runs (20 KiB took seconds, 900 KiB never came back); now every step is linear, and the
intake path scrubs only bounded heads of what it keeps.

    python bench/hostile.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

SITE = ("/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.Web/sites/"
        "augeo-production-api")
SIZES = {"ordinary": 60, "20KiB": 20 * 1024, "200KiB": 200 * 1024, "900KiB": 900 * 1024}


def body_of(letters: int) -> bytes:
    payload = metric_alert(SITE, alert_id=f"/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/"
                                          f"{uuid.uuid4()}")
    payload["data"]["essentials"]["description"] = "a" * letters
    return json.dumps(payload).encode()


def best_ms(work, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def intake_ms(letters: int, repeat: int) -> float:
    import azure.functions as func

    from function_app import app
    from local.localrun import functions_of

    handler = {f.get_function_name(): f.get_user_function() for f in functions_of(app)}["receive_alert"]
    samples = []
    for _ in range(repeat):
        request = func.HttpRequest("POST", "http://localhost/api/alerts", headers={}, body=body_of(letters))
        started = time.perf_counter()
        response = await handler(request)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 202, response.get_body()[:300]
    return statistics.median(samples)


async def all_intakes(repeat: int) -> dict[str, float]:
    from shared import services

    await intake_ms(100, 1)  # the first call pays for imports and connections
    try:
        return {name: await intake_ms(letters, repeat) for name, letters in SIZES.items()}
    finally:
        await services.current().aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from shared.decide.payloads import decode_json
    from shared.redact import scrub

    rows = {}
    for name, letters in SIZES.items():
        body, text = body_of(letters), "a" * letters
        rows[name] = {"json.loads": best_ms(lambda: json.loads(body), args.repeat),
                      "decode_json": best_ms(lambda: decode_json(body), args.repeat),
                      "scrub": best_ms(lambda: scrub(text), args.repeat)}
    azurite = Azurite().start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rules = Path(scratch, "rules.yaml")
            rules.write_text((ROOT / "rules.yaml").read_text())
            os.environ.update({"AzureWebJobsStorage": azurite.connection_string, "RESPONDER_RULES_PATH": str(rules),
                               "RESPONDER_TABLE_PREFIX": f"h{uuid.uuid4().hex[:8]}",
                               "RESPONDER_QUEUE": "bench-hostile"})
            for name, ms in asyncio.run(all_intakes(args.repeat)).items():
                rows[name]["intake"] = ms
    finally:
        azurite.stop()

    print(f"median of {args.repeat}, ms (x = times json.loads of the same body)")
    print(f"{'letters':<9}{'json.loads':>12}{'decode_json':>20}{'scrub':>20}{'intake to 202':>20}")
    result = []
    for name, row in rows.items():
        base = row["json.loads"]
        cells = "".join(f"{row[k]:>11.2f} ({row[k] / base:>5.0f}x)" for k in ("decode_json", "scrub", "intake"))
        print(f"{name:<9}{base:>12.2f}{cells}")
        result += [f"{name}_{key.replace('.', '_')}_ms={value:.2f}" for key, value in row.items()]
        result += [f"{name}_intake_ratio={row['intake'] / base:.0f}"]
    growth = rows["900KiB"]["scrub"] / rows["20KiB"]["scrub"]
    versus_ordinary = rows["900KiB"]["intake"] / rows["ordinary"]["intake"]
    print(f"scrub time from 20 KiB to 900 KiB (45x the input): {growth:.0f}x (linear is ~45x; quadratic ~2,000x)")
    print(f"intake of the 900 KiB alert is {versus_ordinary:.2f}x that of an ordinary one")
    print("RESULT " + " ".join(result) + f" scrub_growth_20k_to_900k={growth:.0f}"
          f" intake_900k_vs_ordinary={versus_ordinary:.2f}")


if __name__ == "__main__":
    main()
