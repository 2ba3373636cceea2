"""A local emulator of the Azure REST endpoints the responder uses, over real HTTPS on 127.0.0.1.

The app reaches it only through its settings (`settings_env()`), exactly as it would reach Azure. Tests
set up scenarios (which release runs in which slot, which release is broken), inject faults (429 with
Retry-After, 5xx, slow or dropped responses, a swap that ends Failed) and assert on the request log.

    with Emulator() as emu:
        site = emu.add_app("augeo-production-api", production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
        insights = emu.add_app_insights("augeo-production-api")   # its requests and exceptions, queryable
        env = emu.settings_env()

The services that are not Azure's start on first use, each on its own HTTPS server with the same CA: the
GitHub REST stand-in (`emu.github`, `emu.github_url`), a Static Web App served by its deploy workflow
(`emu.add_static_web_app`), and the notice receivers (`emu.teams`, `emu.slack`). They live by `emu.clock`
(the wall clock, or a `ManualClock` a test moves: `Emulator(clock=ManualClock())`).
PostgreSQL flexible servers are real PostgreSQL databases (`add_postgres_server`, postgres.py), restored to a
point in time for real; App Service app settings can be Key Vault references (`add_app(app_settings=...)`).
For the health sweeps and the post-rollback watch, also on first use: the Log Analytics query API (`emu.logs`,
`emu.logs_url`, logs.py) over Application Insights telemetry that follows the scenario on `emu.clock`
(`emu.add_app_insights`, telemetry.py), and a pool of health targets (`emu.targets`, targets.py).
"""

from __future__ import annotations

import tempfile
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from local.emulator.activity_log import ActivityLog
from local.emulator.arm_resources import ResourceGroup, ResourceWorld
from local.emulator.clock import Clock, ManualClock, SystemClock
from local.emulator.deployments import Deployments
from local.emulator.github import GitHub
from local.emulator.github_workflows import Outcome, Workflow, WorkflowFile, WorkflowInput
from local.emulator.keyvault import TENANT, KeyVault
from local.emulator.logs import LogAnalytics
from local.emulator.postgres import FlexibleServer, PostgreSQLFlexible
from local.emulator.resource_graph import ResourceGraph
from local.emulator.server import Fault, HttpsServers, Recorder, Request, Response, arm_error
from local.emulator.slack import SlackWebhooks
from local.emulator.staticwebapp import StaticWebApp
from local.emulator.teams import TeamsWorkflows
from local.emulator.telemetry import Component, Telemetry, Workspace
from local.emulator.web import AppKind, AppService, Site, Slot, deployment_record, iso, recent

if TYPE_CHECKING:
    from local.emulator.targets import TargetPool

SUBSCRIPTION = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345"
RESOURCE_GROUP = "augeo-production-rg"
EMULATOR_TOKEN = "emulator-token"  # what shared.adapters.azure.EmulatorCredential presents

__all__ = ["Component", "Emulator", "Fault", "ManualClock", "Outcome", "Request", "RESOURCE_GROUP", "ResourceGroup", "SUBSCRIPTION",
           "Site", "StaticWebApp", "WorkflowFile", "WorkflowInput"]


class Emulator:
    def __init__(self, expected_token: str = EMULATOR_TOKEN, clock: Clock | None = None):
        self.clock: Clock = clock or SystemClock()
        self._lazy = threading.Lock()
        self._github: GitHub | None = None
        self._teams: TeamsWorkflows | None = None
        self._slack: SlackWebhooks | None = None
        self._logs: LogAnalytics | None = None
        self._workspace: Workspace | None = None
        self._targets: TargetPool | None = None
        self.static_web_apps: dict[str, StaticWebApp] = {}
        self._scratch = tempfile.TemporaryDirectory(prefix="azure-emulator-")
        self.recorder = Recorder()
        self._servers = HttpsServers(self._scratch.name, self.recorder)
        self.ca_path = self._servers.ca_path
        self.expected_token = expected_token
        self.web = AppService(lambda: self.arm_url)
        self.vault = KeyVault(expected_token=expected_token)
        # Resource groups as property bags, with the change log and activity log of every write: deployments
        # change them, Resource Graph and the activity log answer from them.
        self.resources = ResourceWorld()
        self.deployments = Deployments(self.resources, lambda: self.arm_url, self._vault_secret)
        self.resource_graph = ResourceGraph(self.resources)
        self.activity_log = ActivityLog(self.resources, lambda: self.arm_url)
        self.arm_port = self._servers.start("arm", self._route_arm)
        self.vault_port = self._servers.start("keyvault", self.vault.route)
        self.vault.base_url = self.vault_url
        self.web.vault = self.vault
        self.postgres = PostgreSQLFlexible(lambda: self.arm_url)
        self.jwks: dict[str, Any] = {"keys": []}
        self.login_port = self._servers.start("login", self._route_login)

    @property
    def vault_url(self) -> str:
        return f"https://127.0.0.1:{self.vault_port}"

    @property
    def jwks_url(self) -> str:
        """Where the emulated Microsoft Entra ID publishes its token signing keys (set `jwks`)."""
        return f"https://127.0.0.1:{self.login_port}/{TENANT}/discovery/v2.0/keys"

    @property
    def arm_url(self) -> str:
        return f"https://127.0.0.1:{self.arm_port}"

    # ----- services that are not Azure's, started on first use ----------------------------------------
    @property
    def github(self) -> GitHub:
        """The GitHub REST stand-in (its server starts on first use); `github.token` is a valid token."""
        with self._lazy:
            if self._github is None:
                github = GitHub(self.clock, self.recorder, lambda: self.github_url)
                self._github_port = self._servers.start("github", github.route, azure_headers=False)
                self._github = github
            return self._github

    @property
    def github_url(self) -> str:
        """The API root, as `https://api.github.com` is (`{github_url}/repos/{owner}/{repo}/...`)."""
        self.github  # noqa: B018 - starts it
        return f"https://127.0.0.1:{self._github_port}"

    @property
    def teams(self) -> TeamsWorkflows:
        """The Teams Workflows webhook receiver (`teams.add_webhook(name)` returns a webhook URL)."""
        with self._lazy:
            if self._teams is None:
                teams = TeamsWorkflows(self.clock, self.recorder)
                teams.port = self._servers.start("teams", teams.route, azure_headers=False)
                self._teams = teams
            return self._teams

    @property
    def slack(self) -> SlackWebhooks:
        """The Slack incoming-webhook receiver (`slack.add_webhook(channel)` returns a webhook URL)."""
        with self._lazy:
            if self._slack is None:
                slack = SlackWebhooks(self.clock, self.recorder)
                slack.port = self._servers.start("slack", slack.route, azure_headers=False)
                self._slack = slack
            return self._slack

    @property
    def telemetry(self) -> Telemetry:
        """What Application Insights recorded for the apps given one (`add_app_insights`), on `emu.clock`."""
        return self.logs.telemetry

    @property
    def logs(self) -> LogAnalytics:
        """The Log Analytics query API (its server starts on first use)."""
        with self._lazy:
            if self._logs is None:
                logs = LogAnalytics(Telemetry(self.web, self.clock))
                self._logs_port = self._servers.start("logs", logs.route)
                self._logs = logs
            return self._logs

    @property
    def logs_url(self) -> str:
        """The Log Analytics query endpoint (LogsQueryClient's `endpoint`; its `audience` must stay
        https://api.loganalytics.io, the only audience the emulator accepts, as the service)."""
        self.logs  # noqa: B018 - starts it
        return f"https://127.0.0.1:{self._logs_port}"

    def add_app_insights(self, app: str, *, name: str | None = None, workspace: Workspace | None = None
                         ) -> Component:
        """A workspace-based Application Insights component recording the requests and exceptions of App
        Service `app` (added first with add_app), in `workspace` (default: one shared workspace)."""
        site = self.web.site(app)
        if workspace is None:
            if self._workspace is None:
                self._workspace = self.telemetry.add_workspace("augeo-production-logs", site.subscription,
                                                               site.resource_group)
            workspace = self._workspace
        return self.telemetry.add_component(site, workspace, name)

    def add_workspace(self, name: str, resource_group: str = RESOURCE_GROUP,
                      subscription: str = SUBSCRIPTION) -> Workspace:
        return self.telemetry.add_workspace(name, subscription, resource_group)

    def fail_logs_queries(self, status: int = 503, times: int | None = 1, code: str | None = None,
                          message: str | None = None, retry_after: str | None = None) -> Fault:
        """The next `times` Log Analytics queries fail with `status` and the service's error body."""
        from local.emulator.logs import logs_error

        default_code, default_message = {
            429: ("ThrottledError", "Your request was throttled; retry after the interval in Retry-After."),
            500: ("InternalServerError", "An internal error occurred."),
            502: ("BadGateway", "The server received an invalid response from an upstream server."),
            503: ("ServiceUnavailableError", "The service is temporarily unavailable; retry the request."),
            504: ("GatewayTimeout", "The query did not finish within the server timeout."),
        }.get(status, ("InjectedFault", f"injected {status}"))
        body = logs_error(status, code or default_code, message or default_message).body
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return self.fault(r"^(POST|GET) /v1/", status=status, body=body, headers=headers, times=times,
                          server="logs")

    @property
    def targets(self) -> TargetPool:
        """The health targets for sweeps (their loop starts on first use)."""
        with self._lazy:
            if self._targets is None:
                from local.emulator.targets import TargetPool  # here, so `python -m local.emulator.targets` runs

                self._targets = TargetPool(self._servers.server_context)
            return self._targets

    def add_static_web_app(self, name: str, workflow: Workflow, *, version_from: str = "ref",
                           deployed: str | None = None) -> StaticWebApp:
        """A Static Web App whose content is set by `workflow` (a deploy workflow on `emu.github`): it serves
        the version of that workflow's last successful run (`version_from`: "ref", or "inputs.<name>").
        `deployed`: the version already live, from a successful run a day ago (at that tag, or with that input)."""
        if deployed is not None:
            if version_from == "ref":
                self.github.add_run(workflow, ref=deployed)
            else:
                self.github.add_run(workflow, inputs={version_from.removeprefix("inputs."): deployed})
        site = StaticWebApp(name, self.github, workflow, version_from)
        site.port = self._servers.start(f"staticwebapp:{name}", site.route, azure_headers=False)
        self.static_web_apps[name] = site
        return site

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._targets is not None:
            self._targets.stop()
        self.postgres.stop()
        self._servers.stop()
        self._scratch.cleanup()

    # ----- scenario ----------------------------------------------------------------------------------
    def add_app(self, name: str, *, production: str, staging: str | None = None, broken: set[str] = frozenset(),
                image: str = "augeo.azurecr.io/augeo-backend", changed_minutes_ago: float | None = 10,
                kind: AppKind = "container", reused_tag: str | None = None, reports_version: bool = True,
                resource_group: str = RESOURCE_GROUP, subscription: str = SUBSCRIPTION,
                app_settings: dict[str, str] | None = None) -> Site:
        """An App Service with a production slot (and a staging slot if `staging` is given); production last
        changed `changed_minutes_ago` (a swap from staging), or never if None. `kind`: a single container
        (`DOCKER|image:tag`), a Linux code app (`PYTHON|3.11`, releases told apart by deployments and /health)
        or a sidecar app (`SITECONTAINERS`, the image in sites/sitecontainers); `reused_tag`: every release of a
        container app deployed as `image:<reused_tag>` (say `latest`); `reports_version`: /health names it;
        `app_settings`: every slot's, Key Vault references resolved as the app started (`DATABASE_URL` is what
        /health/detailed connects with)."""
        site = Site(subscription, resource_group, name, image, kind=kind, reused_tag=reused_tag,
                    reports_version=reports_version)
        age = changed_minutes_ago if changed_minutes_ago is not None else 30 * 24 * 60
        for slot_name, release, deployed in (("production", production, age + 5), ("staging", staging, age + 3 * 1440)):
            if release is None:
                continue
            slot = Slot(slot_name, release, deployments=[deployment_record(release, minutes_ago=deployed)])
            site.slots[slot_name] = slot
            slot.health_port = self._servers.start(f"health:{name}/{slot_name}", self.web.health_route(site, slot_name))
        if changed_minutes_ago is not None:
            when = recent(changed_minutes_ago)
            site.last_swap = {"timestampUtc": iso(when), "sourceSlotName": "staging",
                              "destinationSlotName": "production"}
        self.web.scenario.broken_releases |= set(broken)
        self.web.add_site(site)
        if app_settings is not None:
            self.web.set_app_settings(name, app_settings)
        return site

    def add_postgres_server(self, name: str, *, database: str = "augeo", user: str = "augeoadmin",
                            password: str, sql: str = "", location: str = "eastus",
                            history: timedelta = timedelta(days=7), retention_days: int = 7,
                            tags: dict[str, str] | None = None, resource_group: str = RESOURCE_GROUP,
                            subscription: str = SUBSCRIPTION) -> FlexibleServer:
        """A Ready flexible server that is a real PostgreSQL: `database` owned by its administrator login
        `user` (with `password`), `sql` run in it as that user; it claims `history` of backups before now.
        `server.url(database, user, password)` is its connection string; `server.execute(sql)` runs SQL."""
        return self.postgres.add_server(subscription, resource_group, name, database=database, user=user,
                                        password=password, sql=sql, location=location, history=history,
                                        retention_days=retention_days, tags=tags)

    def add_resource_group(self, name: str = RESOURCE_GROUP, location: str = "eastus",
                           subscription: str = SUBSCRIPTION) -> ResourceGroup:
        """A resource group for deployments (empty: its resources come from deployments added to its history,
        `deployments.add`, or from `resources.put`)."""
        return self.resources.add_group(subscription, name, location)

    def vault_resource_id(self, name: str = "augeo-kv", resource_group: str = RESOURCE_GROUP,
                          subscription: str = SUBSCRIPTION) -> str:
        """An ARM id for the emulated Key Vault, for deployment parameters that reference its secrets (every
        vault id reaches the one emulated vault)."""
        return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.KeyVault/vaults/{name}"

    def _vault_secret(self, reference: dict[str, Any], parameter: str) -> str:
        """Resolve a deployment parameter's Key Vault reference as ARM does, in ARM's words when it cannot."""
        from local.emulator.templates import TemplateError

        name, version = str(reference.get("secretName", "")), reference.get("secretVersion")
        if not isinstance(reference.get("keyVault"), dict) or not reference["keyVault"].get("id") or not name:
            raise TemplateError(f"The parameter '{parameter}' has an invalid Key Vault reference: it needs "
                                f"keyVault.id and secretName.", "InvalidDeploymentParameterKeyVaultReference")
        versions = self.vault.secrets.get(name.lower()) or []
        chosen = versions[-1] if versions and not version else next((v for v in versions if v.id == version), None)
        if chosen is None:
            raise TemplateError(f"The secret of KeyVault parameter '{parameter}' cannot be retrieved. Http status "
                                f"code: 'NotFound'. Error message: 'A secret with (name/id) {name} was not found in "
                                f"this key vault. If you recently deleted this secret you may be able to recover it "
                                f"using the correct recovery command. For help resolving this issue, please see "
                                f"https://go.microsoft.com/fwlink/?linkid=2125182'. Please see "
                                f"https://aka.ms/arm-keyvault for usage details.",
                                "KeyVaultParameterReferenceSecretRetrieveFailed")
        return chosen.value

    def issue_cert(self, *hosts: str) -> tuple[str, str]:
        """A TLS server certificate the app trusts (same CA as the emulator): (cert path, key path)."""
        return self._servers.issue_cert(self._scratch.name, *hosts)

    def release(self, name: str, slot: str = "production") -> str:
        return self.web.site(name).slots[slot].release

    def fault(self, pattern: str, **kwargs: Any) -> Fault:
        fault = Fault(pattern, **kwargs)
        self.recorder.faults.append(fault)
        return fault

    def requests(self, method: str, pattern: str) -> list[Request]:
        return self.recorder.matching(method, pattern)

    def swaps(self) -> list[Request]:
        return self.requests("POST", r"/slotsswap$")

    def settings_env(self) -> dict[str, str]:
        """The app settings that point the responder at this emulator."""
        return {"RESPONDER_ARM_ENDPOINT": self.arm_url, "RESPONDER_CREDENTIAL": "emulator",
                "RESPONDER_KEY_VAULT_URL": self.vault_url,
                "RESPONDER_CA_BUNDLE": self.ca_path, "RESPONDER_ARM_POLLING_INTERVAL": "0.05",
                "RESPONDER_ARM_RETRY_BACKOFF": "0.05", "RESPONDER_ARM_RETRY_TOTAL": "3",
                "RESPONDER_ARM_TIMEOUT": "5"}

    # ----- ARM front door ----------------------------------------------------------------------------
    def _route_arm(self, request: Request) -> Response:
        if request.path.startswith("/_emulator/"):
            return self._control(request)
        authorization = request.headers.get("Authorization") or request.headers.get("authorization") or ""
        if not authorization:
            return arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        if authorization != f"Bearer {self.expected_token}":
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if "api-version" not in request.query:
            return arm_error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.")
        for service in (self.web, self.postgres, self.deployments, self.resource_graph, self.activity_log):
            response = service.route(request)
            if response is not None:
                return response
        return arm_error(404, "NoRegisteredProviderFound", f"No registered resource provider found for {request.path}.")

    def _route_login(self, request: Request) -> Response:
        if request.method == "GET" and request.path == f"/{TENANT}/discovery/v2.0/keys":
            return Response(200, self.jwks)
        return Response(404, {"error": "not_found", "error_description": f"{request.path} is not served here"})

    def _control(self, request: Request) -> Response:
        """A small control API for scenarios run in another process (the demo)."""
        if request.path == "/_emulator/state" and request.method == "GET":
            with self.web.lock:
                return Response(200, {name: {slot: s.release for slot, s in site.slots.items()}
                                      for name, site in self.web.sites.items()})
        if request.path == "/_emulator/requests" and request.method == "GET":
            return Response(200, [{"method": r.method, "path": r.path, "server": r.server}
                                  for r in self.recorder.requests if r.server == "arm"])
        if request.path == "/_emulator/notices" and request.method == "GET":
            return Response(200, {"teams": self._teams.delivered() if self._teams else [],
                                  "slack": self._slack.delivered() if self._slack else []})
        return Response(404, {"error": "unknown control path"})

