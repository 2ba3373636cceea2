"""Start-up checks, run when the Functions host imports function_app.

A mistake in the settings or the rules file must be noticed, and must lose no alert. Raising at import would
do neither: the worker would index no function, the deployment would succeed and the webhook would answer 404
(which Azure Monitor does not retry). So the functions always index; a problem is logged at ERROR here, and every
trigger refuses while it lasts: HTTP answers 503 `misconfigured` naming the setting (Azure Monitor retries a 503),
a queue message is left to be retried, a timer logs the ERROR again. `GET /api/ready` says which.
"""

from __future__ import annotations

import logging

from shared.errors import ConfigurationError
from shared.redact import install_log_redaction

log = logging.getLogger("responder.startup")


def check_configuration() -> str | None:
    """Validate the app settings and the rules file; log (ERROR) and return what is wrong, or None."""
    install_log_redaction()
    from responders import KINDS
    from shared.config import Settings
    from shared.decide.rules import load_rules_file

    try:
        settings = Settings.from_env()
        ruleset = load_rules_file(settings.rules_path, KINDS)
    except ConfigurationError as error:
        log.error("MISCONFIGURED, every trigger refuses until this is fixed: %s", error)
        return str(error)
    log.info("rules %s: %d rule(s) loaded", settings.rules_path, len(ruleset.rules))
    return None
