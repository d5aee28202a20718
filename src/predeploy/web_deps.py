"""FastAPI dependencies: the caller's Context, one transaction per request, bearer-token auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .accounts.service import authenticate
from .errors import NotAuthenticated
from .runtime import Context, Runtime

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer pdp_...`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Iterator[Context]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    runtime = get_runtime(request)
    read_only = request.method in ("GET", "HEAD", "OPTIONS")
    with runtime.transaction(read_only=read_only) as session:
        actor = authenticate(session, runtime.clock, credentials.credentials)
        yield Context(runtime=runtime, session=session, actor=actor)


# scope="function": the transaction commits before the response is sent, so a failed commit is
# reported to the caller instead of a success that did not persist.
CurrentContext = Annotated[Context, Depends(_context, scope="function")]
"""The authenticated caller's context; the request's one transaction commits when it succeeds."""
