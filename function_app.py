"""Rollback Responder: the Azure Functions app (Python v2 programming model).

Triggers only: each parses, authenticates and hands on (blueprints/); decisions live in shared/, actions
in responders/. Start-up validates the settings and the rules file; a mistake is logged at ERROR and every
trigger refuses (503 misconfigured) until it is fixed, rather than the functions silently not indexing
(GET /api/ready says which setting or rule is wrong).
"""

import azure.functions as func

from blueprints import alerts, commands, incidents, ready, runs
from shared.startup import check_configuration

check_configuration()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(alerts.bp)
app.register_functions(incidents.bp)
app.register_functions(runs.bp)
app.register_functions(commands.bp)
app.register_functions(ready.bp)
