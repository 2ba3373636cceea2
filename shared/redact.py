"""Keep secrets out of logs, incident records and error messages.

Three nets: values registered at run time (a Redis key read from Key Vault is registered the moment
it is read), keys whose name says secret (`password`, `accessKey`, `sig`...), and `name=value` pairs
in free text (connection strings, URLs with SAS tokens, `Bearer` headers).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|account[-_]?key|primary[-_]?key|"
    r"secondary[-_]?key|authorization|connection[-_]?string|^sig$|signature|credential|cookie|private[-_]?key",
    re.IGNORECASE,
)
_INLINE = re.compile(
    r"(?P<name>(?:password|pwd|accountkey|sharedaccesskey|access_key|secret|token|sig|apikey|api_key)\s*[=:]\s*)"
    r"(?P<value>[^;&\s\"',]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]{16,}=*", re.IGNORECASE)  # a token, not the word "token"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.IGNORECASE)

_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """From now on, mask this exact value wherever it appears. Short values are ignored (too many false hits)."""
    if value and len(value) >= 6:
        with _known_lock:
            _known.add(value)


def scrub(text: str) -> str:
    """Mask every secret this process knows of, and the `name=value` forms that look secret, in free text."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _INLINE.sub(lambda m: m.group("name") + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like structure with secret-named keys masked and strings scrubbed."""
    if isinstance(value, dict):
        return {
            key: (MASK if _SECRET_KEY.search(str(key)) and item not in (None, "", [], {}) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def capped_json(value: Any, limit: int) -> str:
    """Redacted JSON of `value`; if longer than `limit`, a valid JSON stub holding the head of it."""
    text = json.dumps(redact(value), separators=(",", ":"), default=str)
    if len(text) <= limit:
        return text
    return json.dumps({"truncated": True, "chars": len(text), "head": text[: max(0, limit // 2 - 100)]})


class _ScrubbedRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        return scrub(super().getMessage())


def install_log_redaction() -> None:
    """Scrub every log record's message, whichever logger or handler it goes through (idempotent)."""
    if logging.getLogRecordFactory() is not _ScrubbedRecord:
        logging.setLogRecordFactory(_ScrubbedRecord)
