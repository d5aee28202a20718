"""The FastAPI application, assembled from each area's router."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .accounts.api import router as accounts_router
from .audit.api import router as audit_router
from .campaigns.api import router as campaigns_router
from .campaigns.plans_api import router as plans_router
from .campaigns.transcripts_api import router as transcripts_router
from .clearinghouse.advisories_api import router as advisories_router
from .clearinghouse.api import ATTACHMENTS_PATH as VULN_ATTACHMENTS_PATH
from .clearinghouse.api import router as clearinghouse_router
from .clearinghouse.cases_api import router as cases_router
from .defense.api import CHECK_PATH
from .defense.api import router as defense_router
from .interop.api import IMPORT_PATH
from .interop.api import router as interop_router
from .interop.feeds_api import router as feeds_router
from .interop.provider_api import router as csaf_provider_router
from .notifications.api import router as notifications_router
from .reports.api import router as reports_router
from .runtime import Runtime
from .submissions.api import ATTACHMENTS_PATH
from .submissions.api import router as submissions_router
from .taxii.api import PATH as TAXII_PATH
from .taxii.api import router as taxii_router
from .taxii.protocol import TaxiiErrors
from .web import UPLOAD_PAGES, install_web, page_error
from .web_errors import ERROR_RESPONSES, error_response, install_error_handlers


class BodyLimit:
    """Refuse request bodies above `max_bytes` with 413, whether or not Content-Length is sent.

    `path_limits` gives other limits to paths matching a pattern (e.g. document uploads).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        path_limits: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = tuple((re.compile(p), n) for p, n in path_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        max_bytes = next((n for p, n in self.path_limits if p.match(path)), self.max_bytes)
        too_large = error_response(413, "too_large", f"request body exceeds {max_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await too_large(scope, receive, send)
                return
        # Read the whole body first (it is bounded by max_bytes) so an oversized chunked upload is
        # refused before any route sees it, rather than surfacing as a parse error mid-read.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > max_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app around one Runtime (settings, database, clock, keys)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Sync routes share AnyIO's thread pool. Routes are CPU-bound under the GIL, so a few
        # threads serve more requests per second than 40 threads contending for it (measured in
        # bench/api_reads.py).
        anyio.to_thread.current_default_thread_limiter().total_tokens = (
            runtime.settings.http_threads
        )
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="predeploy",
        version=__version__,
        description="Pre-release security testing of frontier AI models.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.runtime = runtime
    install_error_handlers(app, page_errors=page_error)
    for router in (
        accounts_router,
        audit_router,
        notifications_router,
        submissions_router,
        plans_router,
        campaigns_router,
        transcripts_router,
        reports_router,
        clearinghouse_router,
        cases_router,
        advisories_router,
        interop_router,
        feeds_router,
        csaf_provider_router,
        defense_router,
        taxii_router,
    ):
        app.include_router(router)
    install_web(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=runtime.settings.max_request_bytes,
        path_limits=(
            (ATTACHMENTS_PATH, runtime.settings.max_attachment_bytes),
            (VULN_ATTACHMENTS_PATH, runtime.settings.max_attachment_bytes),
            (UPLOAD_PAGES, runtime.settings.max_attachment_bytes),
            (IMPORT_PATH, runtime.settings.max_import_bytes),
            (CHECK_PATH, runtime.settings.max_import_bytes),
            (TAXII_PATH, runtime.settings.taxii_max_content_length),
        ),
    )
    # Outermost, so that TAXII clients get TAXII's error resource, the body limit's 413 included.
    app.add_middleware(TaxiiErrors)

    @app.get("/api/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
