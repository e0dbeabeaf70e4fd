"""A test `TokenCredential` that Azurite's `--oauth basic` accepts.

Azurite in basic OAuth mode checks a bearer token's issuer, audience and lifetime but not its
signature, so an unsigned JWT with an `sts.windows.net` issuer and the storage audience lets the
SDK use token auth locally (Get User Delegation Key, hence user delegation SAS) with no Entra ID.
Only for the local stack: no real service accepts these tokens.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

STORAGE_AUDIENCE = "https://storage.azure.com"
DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class FakeAzureADCredential:
    """Mints unsigned storage tokens for one made-up principal (sync TokenCredential protocol)."""

    def __init__(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        object_id: str | None = None,
        lifetime_s: int = 3600,
    ) -> None:
        self.tenant_id = tenant_id
        self.object_id = object_id or str(uuid.uuid4())
        self.lifetime_s = lifetime_s

    def _mint(self) -> tuple[str, int]:
        now = int(time.time())
        expires_on = now + self.lifetime_s
        claims = {
            "aud": STORAGE_AUDIENCE,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": expires_on,
            "oid": self.object_id,
            "tid": self.tenant_id,
            "sub": self.object_id,
            "appid": self.object_id,
        }
        token = jwt.encode(claims, key="", algorithm="none")
        return token, expires_on

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """A fresh token for any storage scope."""
        token, expires_on = self._mint()
        return AccessToken(token, expires_on)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        """Same token through the newer `SupportsTokenInfo` protocol azure-core prefers."""
        token, expires_on = self._mint()
        return AccessTokenInfo(token, expires_on)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> FakeAzureADCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncFakeAzureADCredential(FakeAzureADCredential):
    """The same tokens through the async credential protocol (for `azure.storage.blob.aio`)."""

    async def get_token(  # type: ignore[override]
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return super().get_token(*scopes)

    async def get_token_info(  # type: ignore[override]
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return super().get_token_info(*scopes)

    async def close(self) -> None:  # type: ignore[override]
        """Nothing to release."""

    async def __aenter__(self) -> AsyncFakeAzureADCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
