"""TAXII over HTTP: its media types, and its error resource in place of the app's error shape.

Every answer under `/taxii2/` is `application/taxii+json;version=2.1`. Errors are raised as
everywhere else (`PredeployError`, or the app's own 404, 405 and 413); `TaxiiErrors` rewrites the
app's one error shape into TAXII's error message resource on the way out, so that routes, the
body limit and unknown paths all answer the way TAXII clients expect.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PredeployError

PREFIX = "/taxii2/"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
_TAXII = "application/taxii+json"
_VERSION = "2.1"


class Malformed(PredeployError):
    """The request is not what TAXII defines: a bad filter, a body that is not JSON (HTTP 400)."""


class NotAcceptable(PredeployError):
    """The client does not accept TAXII 2.1's media type (HTTP 406)."""

    status_code = 406
    code = "not_acceptable"


class UnsupportedMediaType(PredeployError):
    """The request body is not sent as TAXII 2.1's media type (HTTP 415)."""

    status_code = 415
    code = "unsupported_media_type"


def _is_taxii_21(media_range: str) -> bool:
    kind, *parameters = (part.strip() for part in media_range.split(";"))
    params = {
        name.strip().lower(): value.strip().strip('"')
        for name, _, value in (p.partition("=") for p in parameters)
    }
    return kind.lower() == _TAXII and params.get("version", _VERSION) == _VERSION


def require_accept(accept: str | None) -> None:
    """Refuse a request whose `Accept` does not include TAXII 2.1's media type (a bare
    `application/taxii+json` means the latest version, 2.1)."""
    if not accept or not any(_is_taxii_21(r) for r in accept.split(",")):
        raise NotAcceptable(
            f"Accept {accept or '(none)'} does not include {TAXII_MEDIA_TYPE}, the only media "
            "type this server answers with",
            field="Accept",
        )


def require_content_type(content_type: str | None) -> None:
    """Refuse a body not sent as TAXII 2.1's media type."""
    if not content_type or not _is_taxii_21(content_type):
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'} is not {TAXII_MEDIA_TYPE}: send the "
            "objects in a TAXII envelope",
            field="Content-Type",
        )


class TaxiiResponse(JSONResponse):
    """JSON as TAXII 2.1's media type: the TAXII router's default, so that OpenAPI documents it."""

    media_type = TAXII_MEDIA_TYPE


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "http_status"],
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "error_code": {"type": "string"},
        "http_status": {"type": "string"},
        "details": {"type": "object"},
    },
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {TAXII_MEDIA_TYPE: {"schema": _ERROR_SCHEMA}},
    }
    for status, description in (
        ("4XX", "Refused, as a TAXII error message resource (406: `Accept` lacks TAXII 2.1)."),
        (503, "The database is busy or unavailable: retry shortly."),
    )
}
"""What `TaxiiErrors` makes of the app's errors, for OpenAPI (in place of the app's shape)."""


def taxii_response(
    body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A TAXII resource as the response."""
    return JSONResponse(body, status_code, headers, media_type=TAXII_MEDIA_TYPE)


def _error_resource(status: int, body: bytes) -> dict[str, Any]:
    """TAXII's error message resource from the app's `{"error": {code, message, field}}`."""
    try:
        error = json.loads(body)["error"]
        message, code, field = str(error["message"]), str(error["code"]), error.get("field")
    except (ValueError, KeyError, TypeError):
        message, code, field = body.decode("utf-8", "replace"), "http_error", None
    resource: dict[str, Any] = {
        "title": HTTPStatus(status).phrase,
        "description": message,
        "error_code": code,
        "http_status": str(status),
    }
    if field:
        resource["details"] = {"field": field}
    return resource


class TaxiiErrors:
    """ASGI middleware: under `/taxii2/`, error answers in the app's shape become TAXII error
    message resources with TAXII's media type (and a 401 names the Bearer scheme)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                media_type = headers.get(b"content-type", b"").decode("latin-1")
                if message["status"] >= 400 and media_type.startswith("application/json"):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status = held["status"]
                body = json.dumps(_error_resource(status, b"".join(chunks))).encode()
                kept = [
                    (name, value)
                    for name, value in held.get("headers", [])
                    if name not in (b"content-type", b"content-length")
                ]
                kept += [
                    (b"content-type", TAXII_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ]
                if status == 401:
                    kept.append((b"www-authenticate", b'Bearer realm="predeploy"'))
                await send({**held, "headers": kept})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, rewrite)
