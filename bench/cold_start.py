"""Cold start: time to `import function_app` in a fresh interpreter (the Functions host's first step on a
new instance), beside two baselines measured in the same run: an empty interpreter and `import
azure.functions` alone (which every Python function app pays). Target: function_app under 400 ms.

    python bench/cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import time; t = time.perf_counter(); {stmt}; "
         "print((time.perf_counter() - t) * 1000)")


def measure(stmt: str, runs: int, env: dict[str, str]) -> list[float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE.format(stmt=stmt)], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rules = Path(scratch, "rules.yaml")
        rules.write_text((ROOT / "rules.yaml").read_text())
        env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true", "RESPONDER_RULES_PATH": str(rules),
               "RESPONDER_QUEUE": "rollback-runs"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        measure("import function_app", 2, env)  # make sure .pyc files exist, as they do in a deployed app
        rows = {
            "empty": measure("pass", args.runs, env),
            "azure_functions": measure("import azure.functions", args.runs, env),
            "function_app": measure("import function_app", args.runs, env),
        }
    print(f"{'import':<18}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for name, samples in rows.items():
        p90 = sorted(samples)[int(len(samples) * 0.9) - 1]
        print(f"{name:<18}{statistics.median(samples):>10.1f}{p90:>10.1f}{min(samples):>10.1f}")
    app, base = statistics.median(rows["function_app"]), statistics.median(rows["azure_functions"])
    print(f"function_app costs {app - base:.0f} ms on top of azure.functions ({app / base:.2f}x); target < 400 ms")
    print(f"RESULT function_app_ms={app:.1f} azure_functions_ms={base:.1f} ratio_vs_azure_functions={app / base:.2f} "
          f"own_ms={app - base:.1f} target_ms=400 met={'yes' if app < 400 else 'no'}")


if __name__ == "__main__":
    main()
