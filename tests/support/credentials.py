"""The emulator's fixed bearer token as the credential objects the real SDK clients take (sync and aio)."""

from __future__ import annotations

import time
from typing import Any

from local.emulator import EMULATOR_TOKEN


class EmulatorToken:
    """A sync TokenCredential presenting the token the emulator expects."""

    def __init__(self, token: str = EMULATOR_TOKEN):
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.token, int(time.time()) + 3600)


class AsyncEmulatorToken(EmulatorToken):
    """The same for the .aio clients."""

    async def get_token(self, *scopes: str, **kwargs: Any):
        return EmulatorToken.get_token(self, *scopes, **kwargs)

    async def get_token_info(self, *scopes: str, options: Any = None):
        return EmulatorToken.get_token_info(self, *scopes, options=options)

    async def close(self) -> None:
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass
