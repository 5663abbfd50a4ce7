"""``setAllowedOrigins``: the web origins whose pages may read the tenant's secret-key answers (CORS)."""

from __future__ import annotations

import strawberry

from analytics.errors import InvalidArgument
from analytics.tenants.origins import MAX_ALLOWED_ORIGINS, set_allowed_origins
from analytics.tenants.service import set_privacy_signals
from api.context import AppInfo
from api.errors import BadInput


def tenant_privacy_signals(info: AppInfo) -> bool:
    """The setting as the key lookup of this request read it (no second query)."""
    return info.context.require_secret().honour_privacy_signals


def tenant_allowed_origins(info: AppInfo) -> list[str]:
    """The origins as the key lookup of this request read them (no second query)."""
    return list(info.context.require_secret().allowed_origins)


@strawberry.type
class TenantMutation:
    @strawberry.mutation(description=(
        "Replace the origins (scheme://host[:port], such as https://shop.example.com; at most "
        f"{MAX_ALLOWED_ORIGINS}) whose pages may read this tenant's secret-key answers in a browser "
        "(secret key). [] removes them all (the default). Publishable keys need none: any page may "
        "send track. Returns the origins as stored, spelled as browsers send them."))
    async def set_allowed_origins(self, info: AppInfo, origins: list[str]) -> list[str]:
        principal = info.context.require_secret()
        try:
            async with info.context.write() as conn:
                stored = await set_allowed_origins(conn, principal.tenant_id, origins)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        return list(stored)

    @strawberry.mutation(description=(
        "Honour Do Not Track and Global Privacy Control (secret key): from the next request on, events "
        "sent with either signal (the browser's DNT: 1 or Sec-GPC: 1 header, or context.privacySignal) "
        "are dropped at ingest and reported as OPTED_OUT. Off by default. Returns the setting."))
    async def set_privacy_signals(self, info: AppInfo, honour: bool) -> bool:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            await set_privacy_signals(conn, principal.tenant_id, honour)
        return honour
