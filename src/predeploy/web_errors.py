"""One error shape for every HTTP error: `{"error": {"code", "message", "field"}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import PredeployError, RateLimited

log = logging.getLogger("predeploy.api")


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


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to the one error shape; nothing leaks a stack trace."""

    @app.exception_handler(PredeployError)
    async def _domain(_: Request, exc: PredeployError) -> JSONResponse:
        response = error_response(exc.status_code, exc.code, exc.message, exc.field)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        return error_response(
            422, "invalid", _validation_message(first), _field_of(tuple(first.get("loc", ())))
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "not_authenticated",
            413: "too_large",
        }
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail)
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity conflict: %s", type(exc.orig).__name__)
        return error_response(409, "conflict", "the request conflicts with existing data")

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _pool_timeout(_: Request, exc: SQLAlchemyTimeoutError) -> JSONResponse:
        log.warning("no database connection free in time")
        return error_response(503, "unavailable", "the server is overloaded; retry shortly")

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return error_response(
            503, "unavailable", "the database is busy or unavailable; retry shortly"
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal", "internal error; the request changed nothing")
