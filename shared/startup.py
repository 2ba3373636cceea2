"""Start-up checks, run when the Functions host imports function_app."""

from __future__ import annotations

import logging

from shared.redact import install_log_redaction


def check_configuration() -> None:
    """Validate the app settings and the rules file; raise ConfigurationError naming what is wrong."""
    install_log_redaction()
    from responders import KINDS
    from shared.config import Settings
    from shared.rules import load_rules_file

    settings = Settings.from_env()
    ruleset = load_rules_file(settings.rules_path, KINDS)
    logging.getLogger("responder.startup").info("rules %s: %d rule(s) loaded", settings.rules_path,
                                                len(ruleset.rules))
