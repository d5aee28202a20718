"""Domain errors raised by services; the API maps each to one HTTP status and one error shape."""

from __future__ import annotations

from pydantic import ValidationError


class PredeployError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(PredeployError):
    """The input is well-formed but breaks a rule (HTTP 422)."""

    status_code = 422
    code = "invalid"


class NotAuthenticated(PredeployError):
    """No valid credentials (HTTP 401)."""

    status_code = 401
    code = "not_authenticated"


class PermissionDenied(PredeployError):
    """Authenticated, but not allowed to do this to an object it may see (HTTP 403)."""

    status_code = 403
    code = "forbidden"


class NotFound(PredeployError):
    """Missing, or not visible to the caller: the two are indistinguishable on purpose (HTTP 404)."""

    status_code = 404
    code = "not_found"


class Conflict(PredeployError):
    """The request conflicts with the current state (HTTP 409)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(PredeployError):
    """A body or attachment above the configured limit (HTTP 413)."""

    status_code = 413
    code = "too_large"


class RateLimited(PredeployError):
    """Too many requests of one kind from one caller in a period (HTTP 429, with Retry-After)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


def first_validation_error(exc: ValidationError) -> InvalidInput:
    """InvalidInput naming the field of `exc`'s first error (`items.0.epochs: ...`).

    A model validator may report a field below its own location by raising a
    `PydanticCustomError` whose context carries `path` (dotted, relative) and `message`.
    """
    error = exc.errors()[0]
    parts = [str(part) for part in error["loc"]]
    context = error.get("ctx") or {}
    if "path" in context and "message" in context:
        parts += [part for part in str(context["path"]).split(".") if part]
        message = str(context["message"])
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    # A union's member names its branch in the location ("list[...]"), not a field.
    path = ".".join(part for part in parts if "[" not in part) or None
    return InvalidInput(f"{path}: {message}" if path else message, field=path)
