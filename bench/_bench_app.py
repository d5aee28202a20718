"""The app under benchmark: the real predeploy app plus a bare constant endpoint as the baseline.

Both live in one process, so the ratio between them measures predeploy's own cost per request
(authentication, scoped query, serialisation) on the same server, machine and moment.
"""

from __future__ import annotations

from fastapi import FastAPI

from predeploy.api import create_app
from predeploy.config import Settings
from predeploy.runtime import Runtime


def make_app() -> FastAPI:
    app = create_app(Runtime(settings=Settings()))

    @app.get("/bench/constant", include_in_schema=False)
    async def constant() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/bench/sync-constant", include_in_schema=False)
    def sync_constant() -> dict[str, bool]:
        return {"ok": True}

    return app
