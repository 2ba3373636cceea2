"""An Azure Static Web App stand-in: an HTTPS site whose content is whatever the last **successful** run of its
deploy workflow (on the GitHub stand-in) put there.

Static Web Apps have no slots: the frontend is rolled back by running the deploy workflow again at an older
release (or re-running the run that deployed it). So the site asks the GitHub stand-in, at every request, which
attempt of the deploy workflow completed with success last, and serves that run's version:

  * `GET /version.json` -> `200 {"version", "commit", "deployed_at", "run_id"}` (the documented way to read
    the version; `Cache-Control: no-store`), `404` before anything was deployed;
  * `GET /` and `HEAD /` -> `200` text/html with `<meta name="app-version" content="...">` (the same version);
    before any deploy, the placeholder page a new Static Web App serves, `200` as well: a 2xx alone proves
    nothing, the version does;
  * anything else -> `404` (the app's own `404.html` on Azure).

A failed, cancelled or still running deploy changes nothing; a re-run of an old successful run deploys that
run's version again, since the re-run replays its ref and inputs. `version_from` says where a run's version
is: `"ref"` (the tag it ran at, `v1.4.2`) or `"inputs.<name>"`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from local.emulator.clock import iso_seconds
from local.emulator.github import GitHub
from local.emulator.github_workflows import Run, Workflow
from local.emulator.server import Request, Response


@dataclass
class StaticWebApp:
    name: str
    github: GitHub
    workflow: Workflow
    version_from: str = "ref"
    port: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _version(self, run: Run) -> str:
        if self.version_from == "ref":
            return run.head_branch
        return run.inputs.get(self.version_from.removeprefix("inputs."), "")

    def deployed(self) -> tuple[float, Run] | None:
        done = self.github.actions.successful_completions(self.workflow)
        return done[-1] if done else None

    @property
    def version(self) -> str | None:
        """The version the site serves now (None before any successful deploy)."""
        latest = self.deployed()
        return self._version(latest[1]) if latest else None

    def route(self, request: Request) -> Response:
        latest = self.deployed()
        path = request.path
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"Method Not Allowed", {"Content-Type": "text/plain", "Allow": "GET, HEAD"})
        if path == "/version.json":
            if latest is None:
                return self._not_found()
            when, run = latest
            return Response(200, {"version": self._version(run), "commit": run.head_sha,
                                  "deployed_at": iso_seconds(when), "run_id": run.id},
                            {"Cache-Control": "no-store"})
        if path in ("/", "/index.html"):
            if latest is None:
                page = ("<!DOCTYPE html><html><head><title>Congratulations on your new site!</title></head>"
                        "<body><h1>Your Azure Static Web App is live and waiting for your content</h1></body></html>")
            else:
                version = html.escape(self._version(latest[1]), quote=True)
                page = (f'<!DOCTYPE html><html><head><meta charset="utf-8">'
                        f'<meta name="app-version" content="{version}"><title>{html.escape(self.name)}</title>'
                        f'</head><body><div id="root"></div></body></html>')
            return Response(200, page.encode(), {"Content-Type": "text/html; charset=utf-8",
                                                 "Cache-Control": "no-store"})
        return self._not_found()

    @staticmethod
    def _not_found() -> Response:
        return Response(404, b"<!DOCTYPE html><html><body><h1>404: Not Found</h1></body></html>",
                        {"Content-Type": "text/html; charset=utf-8"})
