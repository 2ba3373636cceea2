"""Keep secrets out of logs, incident records and error messages.

Three nets: values registered at run time (a Redis key read from Key Vault is registered the moment
it is read), keys whose name says secret (`password`, `accessKey`, `sig`...), and `name=value` pairs
in free text (connection strings, URLs with SAS tokens, `Bearer` headers).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import threading
from typing import Any, Iterator

MASK = "***"

_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|account[-_]?key|primary[-_]?key|"
    r"secondary[-_]?key|authorization|connection[-_]?string|^sig$|signature|credential|cookie|private[-_]?key",
    re.IGNORECASE,
)
# Every pattern is linear in its input: quantifiers are possessive (no backtracking inside a match), and no start
# position rescans what another one scanned. Without that, every letter of a long run of letters was a start
# that scanned the rest of the run looking for `://`: quadratic, and 900 KiB never came back.
_INLINE_NAMES = ("password", "pwd", "accountkey", "sharedaccesskey", "access_key", "secret", "token", "sig",
                 "apikey", "api_key")
# `name = value` is found from its `=` or `:`, read backwards: the engine skips to the next separator at C speed
# instead of trying ten names at every position of the text.
_INLINE_NAME_BEFORE = re.compile(r"[=:]\s*+(?i:" + "|".join(name[::-1] for name in _INLINE_NAMES) + ")")
_INLINE_VALUE = re.compile(r"\s*+(?P<secret>[^;&\s\"',]++)")
_BEARER = re.compile(r"Bearer\s++(?P<secret>[A-Za-z0-9\-._~+/]{16,}+=*+)", re.IGNORECASE)  # a token, not the word
# A scheme starts only at the first character of a run of scheme characters (the lookbehind).
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.\-])[0-9+.\-]*+[a-z][a-z0-9+.\-]*+://[^:/@\s]*+:(?P<secret>[^@/\s]++)@", re.IGNORECASE
)


def _inline_secrets(text: str) -> list[tuple[int, int]]:
    """Where the values of `password=...`, `AccountKey=...`, `token: ...` are (a value's own `name=` is value)."""
    last = len(text) - 1
    separators = [last - found.start() for found in _INLINE_NAME_BEFORE.finditer(text[::-1])]
    spans, done = [], 0
    for separator in reversed(separators):  # left to right
        value = _INLINE_VALUE.match(text, separator + 1) if separator >= done else None
        if value:
            spans.append(value.span("secret"))
            done = value.end()
    return spans


def _secrets(text: str) -> list[tuple[int, int]]:
    spans = _inline_secrets(text) if "=" in text or ":" in text else []
    spans += (found.span("secret") for found in _BEARER.finditer(text))
    if "://" in text:
        spans += (found.span("secret") for found in _URL_CREDENTIALS.finditer(text))
    return sorted(spans)


_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """From now on, mask this exact value wherever it appears. Short values are ignored (too many false hits)."""
    if value and len(value) >= 6:
        with _known_lock:
            _known.add(value)


def scrub(text: str) -> str:
    """Mask every secret this process knows of, and the `name=value` forms that look secret, in free text.

    Linear in the length of `text` (times the number of registered secrets). Each pattern finds its secrets
    in the same text and the union of what they found is masked, so one net cannot hide a secret from another
    (`token: Bearer eyJ...` is a `name: value` pair whose value is the word Bearer, and a bearer token)."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    merged: list[list[int]] = []
    for start, end in _secrets(text):
        if merged and start <= merged[-1][1]:  # overlapping or touching: one mask
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, done = [], 0
    for start, end in merged:
        parts += [text[done:start], MASK]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def scrub_head(text: str, limit: int) -> str:
    """`scrub(text)[:limit]` without scrubbing more than a bounded prefix of a text that may be huge.

    Twice the limit, plus the longest registered secret, is scrubbed before the cut: a secret shorter than
    the limit that starts before the cut is whole in what is scrubbed, so no part of it survives (a secret
    cut before scrubbing might not be recognised, and its head would be kept)."""
    with _known_lock:
        longest = max(map(len, _known), default=0)
    return scrub(text[:2 * limit + longest])[:limit]


def redact(value: Any) -> Any:
    """A copy of a JSON-like structure with secret-named keys masked and strings scrubbed."""
    return _redacted(value, None)


def _redacted(value: Any, head: int | None) -> Any:
    """redact(), keeping of each string only its first `head` characters (scrubbed before the cut)."""
    if isinstance(value, dict):
        return {
            key: (MASK if _SECRET_KEY.search(str(key)) and item not in (None, "", [], {}) else _redacted(item, head))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item, head) for item in value]
    if isinstance(value, str):
        return scrub(value) if head is None or len(value) <= head else scrub_head(value, head)
    return value


def capped_json(value: Any, limit: int) -> str:
    """Redacted JSON of `value`; if longer than `limit`, a valid JSON stub holding the head of it.

    A string longer than `limit` cannot fit whole anyway: only its first `limit` characters are scrubbed and
    kept (the stub's head is the same, and `chars` counts the JSON so cut), so a huge alert costs no more
    to redact than a small one."""
    text = json.dumps(_redacted(value, limit), separators=(",", ":"), default=str)
    if len(text) <= limit:
        return text
    return json.dumps({"truncated": True, "chars": len(text), "head": text[: max(0, limit // 2 - 100)]})


_LOG_MESSAGE_LIMIT = 16_000
_incident: contextvars.ContextVar[str | None] = contextvars.ContextVar("incident_id", default=None)


@contextlib.contextmanager
def about(incident_id: str) -> Iterator[None]:
    """Every log record made inside (by the app or a library) is about this incident."""
    token = _incident.set(incident_id)
    try:
        yield
    finally:
        _incident.reset(token)


class _ResponderRecord(logging.LogRecord):
    """Every log record's message as it leaves the app: secrets scrubbed (and its length bounded), and the
    incident it is about named in the text (from `extra={"incident_id": ...}` or the `about` block it was made
    in). The Functions Python worker forwards only a record's message to Application Insights, so an extra
    field alone would be lost there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.responder_incident = _incident.get()  # not `incident_id`: `extra` may set that (and wins)

    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        message = scrub_head(super().getMessage(), _LOG_MESSAGE_LIMIT)
        incident_id = getattr(self, "incident_id", None) or self.responder_incident
        if incident_id and incident_id not in message:
            message = f"[{incident_id}] {message}"
        return message


def install_log_redaction() -> None:
    """Scrub every log record's message and name its incident in it, whichever logger or handler it goes
    through (idempotent)."""
    if logging.getLogRecordFactory() is not _ResponderRecord:
        logging.setLogRecordFactory(_ResponderRecord)
