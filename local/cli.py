"""`python -m local.cli`: the responder's command line.

    explain PAYLOAD.json [--rules FILE]   the normalized event and the Plan the rules make of it (acts on nothing)
    demo [--keep-running]                 a local rollback, end to end: Azurite + Azure emulator + the app
    serve [--port 7071]                   the local runner: the app's HTTP triggers, timers and queues on 127.0.0.1

Exit codes: 0 success, 1 the demo did not end as expected, 2 bad input (same message as the webhook's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def explain(payload_path: str, rules_path: str | None) -> int:
    from responders import KINDS
    from shared.errors import ConfigurationError, PayloadError
    from shared.decide.events import parse_alert
    from shared.decide.payloads import decode_json
    from shared.decide.rules import load_rules_file, match

    try:
        body = Path(payload_path).read_bytes()
    except OSError as error:
        return _refuse(f"cannot read {payload_path}: {error.strerror}")
    try:
        event = parse_alert(decode_json(body))
    except PayloadError as error:
        return _refuse(json.dumps(error.body()))
    rules_file = rules_path or os.environ.get("RESPONDER_RULES_PATH") or "rules.yaml"
    try:
        ruleset = load_rules_file(rules_file, KINDS)
    except ConfigurationError as error:
        return _refuse(str(error))
    plan = match(event, ruleset, KINDS)
    print(json.dumps({"event": event.summary(), "plan": plan.model_dump(mode="json"),
                      "rules": rules_file, "notes": ["acts on nothing", "cooldowns are not checked (no store is read)"]},
                     indent=2, default=str))
    return 0


def _refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_BAD_INPUT


def serve(port: int) -> int:
    """Like `func start`: app settings from local.settings.json (Values), then the environment."""
    settings_file = Path("local.settings.json")
    if settings_file.exists():
        values = json.loads(settings_file.read_text()).get("Values", {})
        for name, value in values.items():
            os.environ.setdefault(name, str(value))

    async def run() -> None:
        from function_app import app
        from local.localrun import LocalRunner

        runner = LocalRunner(app, port=port)
        bound = await runner.start()
        print(f"local runner (development only) on http://127.0.0.1:{bound}/api; Ctrl-C stops it")
        for route in runner.table.http:
            print(f"  {','.join(sorted(route.methods)):<6} {route.template}  ({route.name})")
        for binding in runner.table.queues:
            print(f"  queue  {binding.queue}  ({binding.name})")
        for timer in runner.table.timers:
            print(f"  timer  {timer.schedule}  ({timer.name})")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.cli", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    explain_cmd = commands.add_parser("explain", help="show the event and plan for an alert payload; acts on nothing")
    explain_cmd.add_argument("payload", help="an alert payload (JSON file)")
    explain_cmd.add_argument("--rules", help="rules file (default: $RESPONDER_RULES_PATH or rules.yaml)")
    demo_cmd = commands.add_parser("demo", help="run a local rollback end to end (Azurite + emulator + app)")
    demo_cmd.add_argument("--keep-running", action="store_true", help="keep serving afterwards, for curl")
    demo_cmd.add_argument("--port", type=int, default=0, help="local runner port (default: a free one)")
    serve_cmd = commands.add_parser("serve", help="serve the app locally (development only)")
    serve_cmd.add_argument("--port", type=int, default=7071)
    args = parser.parse_args(argv)
    if args.command == "explain":
        return explain(args.payload, args.rules)
    if args.command == "demo":
        from local.demo import run_demo

        return asyncio.run(run_demo(keep_running=args.keep_running, port=args.port))
    return serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
