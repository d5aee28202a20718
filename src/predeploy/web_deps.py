"""FastAPI dependencies: the caller's Context, one transaction per request, bearer-token auth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Concatenate, ParamSpec, TypeVar

import anyio
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .accounts.actor import Actor
from .accounts.models import Scope
from .accounts.service import authenticate
from .errors import NotAuthenticated
from .runtime import Context, Runtime

P = ParamSpec("P")
T = TypeVar("T")

_bearer_scheme = HTTPBearer(
    auto_error=False, description="An API token: `Authorization: Bearer pdp_...`"
)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


Authenticator = Callable[[Session, Runtime], Actor]
"""Who the caller is, found in the request's own session (raises NotAuthenticated)."""


def _bearer(token: str | None) -> Authenticator:
    def who(session: Session, runtime: Runtime) -> Actor:
        return authenticate(session, runtime.clock, token) if token else Actor.public()

    return who


def _open(
    runtime: Runtime, who: Authenticator, read_only: bool, *, inline: bool = False
) -> Context:
    """A session and the caller (from `who`, in that session)."""
    factory = runtime.read_sessions if read_only else runtime.sessions
    session = factory()
    try:
        actor = who(session, runtime)
        if read_only:
            # Every read route needs the read scope: checked here once, not in each service.
            actor.require_scope(Scope.READ)
    except BaseException:
        session.close()
        raise
    return Context(runtime=runtime, session=session, actor=actor, inline=inline)


def _commit(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


def _reads_inline(runtime: Runtime, read_only: bool) -> bool:
    """Whether this request's database work runs on the event loop instead of a worker thread.

    SQLite reads are local, short, and never wait for a lock (WAL), so handing them to a thread
    only adds the cost of the hand-over (about half of a read request's time, measured in
    bench/api_reads.py). Writes can wait for the write lock, and PostgreSQL calls wait on a
    socket: those run in threads so that they never stall other requests.
    """
    return read_only and runtime.settings.resolved_database_url.startswith("sqlite")


def _token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("send the token as 'Authorization: Bearer <token>'")
    return credentials.credentials


async def _context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> AsyncIterator[Context]:
    token = _token(credentials)
    if token is None:
        raise NotAuthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    async with _transaction(request, token) as ctx:
        yield ctx


async def _public_context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> AsyncIterator[Context]:
    async with _transaction(request, _token(credentials)) as ctx:
        yield ctx


@asynccontextmanager
async def _transaction(request: Request, token: str | None) -> AsyncIterator[Context]:
    read_only = request.method in ("GET", "HEAD", "OPTIONS")
    if token is None and not read_only:
        raise NotAuthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    async with open_context(request, _bearer(token)) as ctx:
        yield ctx


@asynccontextmanager
async def open_context(request: Request, who: Authenticator) -> AsyncIterator[Context]:
    """The request's one transaction, as the caller `who` finds: it commits if the block
    succeeds and rolls back if it raises. GET, HEAD and OPTIONS get a read-only transaction."""
    runtime = get_runtime(request)
    read_only = request.method in ("GET", "HEAD", "OPTIONS")
    # At most `http_threads` requests hold a session (and so a database connection) at once; the
    # rest wait here, in the event loop, so overload becomes queueing rather than pool timeouts
    # (and an inline read can never block the event loop waiting for a pooled connection).
    async with _sessions_in_flight(request, runtime):
        if _reads_inline(runtime, read_only):
            ctx = _open(runtime, who, read_only, inline=True)
            try:
                yield ctx
            except BaseException:
                _discard(ctx.session)
                raise
            _commit(ctx.session)
            return
        # Opening and closing are shielded from cancellation (a client that goes away
        # mid-request): a session opened in a worker thread must always be closed.
        with anyio.CancelScope(shield=True):
            ctx = await run_in_threadpool(_open, runtime, who, read_only)
        try:
            yield ctx
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_discard, ctx.session)
            raise
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_commit, ctx.session)


def _sessions_in_flight(request: Request, runtime: Runtime) -> anyio.Semaphore:
    state = request.app.state
    if getattr(state, "session_slots", None) is None:
        state.session_slots = anyio.Semaphore(runtime.settings.http_threads)
    slots: anyio.Semaphore = state.session_slots
    return slots


async def call(
    function: Callable[Concatenate[Context, P], T], ctx: Context, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run a service function for an `async` route: on the event loop when the request's
    database work runs there (see `_reads_inline`), else in a worker thread."""
    if ctx.inline:
        return function(ctx, *args, **kwargs)
    return await run_in_threadpool(function, ctx, *args, **kwargs)


# scope="function": the transaction commits before the response is sent, so a failed commit is
# reported to the caller instead of a success that did not persist.
CurrentContext = Annotated[Context, Depends(_context, scope="function")]
"""The authenticated caller's context; the request's one transaction commits when it succeeds."""

PublicContext = Annotated[Context, Depends(_public_context, scope="function")]
"""For routes the public may read: the token's caller if one is sent, else `Actor.public()`."""


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
"""An upload's bytes, sent as the whole request body (its media type in `Content-Type`)."""


def download(content: bytes, media_type: str, filename: str, sha256: str) -> Response:
    """An uploaded file served back: always as an attachment, never sniffed into something a
    browser would run, with its SHA-256 for the receiver to check."""
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": sha256,
        },
    )
