"""One error shape for every HTTP error: `{"error": {"code", "message", "field"}}`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import PredeployError, RateLimited

log = logging.getLogger("predeploy.api")


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "description": "Stable, e.g. `not_found`."},
                "message": {"type": "string"},
                "field": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "The input the error is about, if one.",
                },
            },
        }
    },
}
"""The JSON schema of the error shape, as OpenAPI documents it."""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "Refused: 400 bad request, 401 no valid token, 403 not allowed, 404 not "
        "found (or not visible to you), 409 conflicting with the current state, 410 gone, 413 "
        "too large, 415 unsupported media type, 422 invalid input (`field` names it), 429 too "
        "many requests (with `Retry-After`).",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
    503: {
        "description": "The database is busy or unavailable: retry shortly.",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
}
"""Every route's error answers, for OpenAPI (`FastAPI(responses=...)`): the content is declared
here rather than through a model, so that a route with another media type (a download, a text
file) does not document its errors under that media type."""


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, "field": field}}
    )


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation_message(err: dict[str, Any]) -> str:
    field = _field_of(tuple(err.get("loc", ())))
    if err.get("type") == "extra_forbidden":
        return f"unknown field {field!r}"
    if err.get("type") == "json_invalid":
        return "request body is not valid JSON"
    msg = str(err.get("msg", "invalid value"))
    return f"{field}: {msg}" if field else msg


PageErrors = Callable[[Request, int, str, str | None], Response | None]
"""Renders an error as a web page, or returns None when the request was not for a page."""


def install_error_handlers(app: FastAPI, page_errors: PageErrors | None = None) -> None:
    """Map every failure to the one error shape (or, for web pages, to an error page through
    `page_errors`); nothing leaks a stack trace."""

    def respond(
        request: Request, status: int, code: str, message: str, field: str | None = None
    ) -> Response:
        if page_errors is not None:
            page = page_errors(request, status, message, field)
            if page is not None:
                return page
        return error_response(status, code, message, field)

    @app.exception_handler(PredeployError)
    async def _domain(request: Request, exc: PredeployError) -> Response:
        response = respond(request, exc.status_code, exc.code, exc.message, exc.field)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        return respond(
            request,
            422,
            "invalid",
            _validation_message(first),
            _field_of(tuple(first.get("loc", ()))),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "not_authenticated",
            413: "too_large",
        }
        return respond(
            request, exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail)
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        log.info("integrity conflict: %s", type(exc.orig).__name__)
        return respond(request, 409, "conflict", "the request conflicts with existing data")

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # A value the database cannot hold or compare, e.g. a NUL character in a string
        # (PostgreSQL refuses those, wherever the request put them).
        log.info("data error: %s", type(exc.orig).__name__)
        return respond(
            request, 422, "invalid", "the request holds a value the database cannot store"
        )

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _pool_timeout(request: Request, exc: SQLAlchemyTimeoutError) -> Response:
        log.warning("no database connection free in time")
        return respond(request, 503, "unavailable", "the server is overloaded; retry shortly")

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return respond(
            request, 503, "unavailable", "the database is busy or unavailable; retry shortly"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return respond(request, 500, "internal", "internal error; the request changed nothing")
