"""Request bodies as bytes -> JSON, with the limits and messages every entry point shares (the webhook, the
command API and `cli explain` say the same thing about the same bad input)."""

from __future__ import annotations

import json
from typing import Any

from shared.errors import PayloadError

MAX_BODY_BYTES = 1 << 20  # 1 MiB: Azure Monitor payloads are a few KiB; anything near this is not an alert


def too_large(size: int) -> PayloadError:
    return PayloadError(413, "payload_too_large", f"the body is {size} bytes; the limit is {MAX_BODY_BYTES}")


def decode_json(body: bytes) -> Any:
    """The body as JSON, or PayloadError 413 (too big) / 400 (empty, not UTF-8, not JSON)."""
    if len(body) > MAX_BODY_BYTES:
        raise too_large(len(body))
    if not body.strip():
        raise PayloadError(400, "invalid_json", "the body is empty; send a JSON object")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError(400, "invalid_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise PayloadError(400, "invalid_json", f"the body is not JSON: {error.msg} at line {error.lineno} "
                                                f"column {error.colno}") from None
