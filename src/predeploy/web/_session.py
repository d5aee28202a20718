"""Page dependencies: the signed-in caller from the session cookie, and CSRF checks.

A page request runs in one transaction, as API requests do (`web_deps.open_context`). Every
request that may change something (anything but GET and HEAD) must carry the session's CSRF
token, as a form field or an `X-CSRF-Token` header (htmx sends the header), and, when the
browser says where it comes from, come from this site.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..accounts.actor import Actor
from ..accounts.sessions import csrf_token, csrf_valid, session_actor, touch
from ..config import Settings
from ..errors import NotAuthenticated, PermissionDenied
from ..runtime import Context, Runtime
from ..web_deps import get_runtime, open_context

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "predeploy_login_csrf"
_SAFE_METHODS = ("GET", "HEAD")


def session_cookie_name(settings: Settings) -> str:
    """`__Host-` cookies are bound to this host over HTTPS only, so the prefix goes with Secure."""
    return "__Host-predeploy_session" if settings.cookie_secure else "predeploy_session"


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(get_runtime(request).settings)) or None


def csrf_for_request(request: Request) -> str:
    """The CSRF token forms on this page must carry: the session's, or before sign-in the
    login form's own (double-submit: the same random value in a cookie and in the form)."""
    cookie = getattr(request.state, "session_cookie", None) or session_cookie(request)
    if cookie:
        return csrf_token(cookie)
    login_token: str | None = getattr(request.state, "login_csrf", None)
    if login_token is None:
        login_token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.login_csrf = login_token
    return login_token


def set_login_csrf_cookie(request: Request, response: Response) -> None:
    """Send the login form's CSRF cookie if this response's form made a new one (only from
    /login: another public page, even a 404 for /favicon.ico, must not replace it)."""
    if request.url.path != "/login":
        return
    token = getattr(request.state, "login_csrf", None)
    if token and request.cookies.get(LOGIN_CSRF_COOKIE) != token:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=get_runtime(request).settings.cookie_secure,
            path="/login",
        )


async def submitted_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def check_origin(request: Request) -> None:
    """Refuse a state-changing request that a browser says comes from another site.

    Browsers say where a request comes from in `Sec-Fetch-Site` and `Origin`. `Origin` may be
    `null` (e.g. a page whose referrer policy withholds it); `Sec-Fetch-Site` then decides.
    Clients that send neither (scripts, curl) are not browsers riding a session: the CSRF
    token is what stops those.
    """
    refused = PermissionDenied("this form was sent from another site; open it on this site")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise refused
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and fetch_site is not None):
        return
    if origin != f"{request.url.scheme}://{request.url.netloc}":
        raise refused


async def check_csrf(request: Request, expected_cookie: str) -> None:
    check_origin(request)
    if not csrf_valid(expected_cookie, await submitted_csrf(request)):
        raise PermissionDenied(
            "the form's security token is missing or out of date: reload the page and try again"
        )


class _Caller:
    """Finds the session's user inside the request's transaction, and notes whether the
    session's last-seen time needs writing."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self.stale_session: str | None = None

    def __call__(self, session: Session, runtime: Runtime) -> Actor:
        actor, stale = session_actor(session, runtime.clock, runtime.settings, self.cookie)
        if stale:
            self.stale_session = actor.session_id
        return actor


async def _signed_in(request: Request) -> AsyncIterator[Context]:
    cookie = session_cookie(request)
    if cookie is None:
        raise NotAuthenticated("sign in to see this page")
    request.state.session_cookie = cookie
    if request.method not in _SAFE_METHODS:
        await check_csrf(request, cookie)
    caller = _Caller(cookie)
    async with open_context(request, caller) as ctx:
        request.state.actor = ctx.actor
        yield ctx
    if caller.stale_session is not None:
        await run_in_threadpool(_touch, get_runtime(request), caller.stale_session)


def _touch(runtime: Runtime, session_id: str) -> None:
    with runtime.transaction() as session:
        touch(session, runtime.clock, session_id)


async def _anyone(request: Request) -> AsyncIterator[Context]:
    async with _public(request, anonymous_posts=False) as ctx:
        yield ctx


async def _anyone_may_post(request: Request) -> AsyncIterator[Context]:
    async with _public(request, anonymous_posts=True) as ctx:
        yield ctx


@asynccontextmanager
async def _public(request: Request, *, anonymous_posts: bool) -> AsyncIterator[Context]:
    """The signed-in user (CSRF-checked on changes) or, without a session, the public.

    An anonymous post has no session to ride, so it needs no token; its origin is checked.
    """
    cookie = session_cookie(request)
    if cookie is None:
        if request.method not in _SAFE_METHODS:
            if not anonymous_posts:
                raise NotAuthenticated("sign in to do this")
            check_origin(request)
        async with open_context(request, lambda _s, _r: Actor.public()) as ctx:
            request.state.actor = ctx.actor
            yield ctx
        return
    request.state.session_cookie = cookie
    if request.method not in _SAFE_METHODS:
        await check_csrf(request, cookie)
    caller = _Caller(cookie)

    def who(session: Session, runtime: Runtime) -> Actor:
        try:
            return caller(session, runtime)
        except NotAuthenticated:
            # An ended session on a public page: show it as to anyone.
            request.state.session_cookie = None
            return Actor.public()

    async with open_context(request, who) as ctx:
        request.state.actor = ctx.actor
        yield ctx
    if caller.stale_session is not None:
        await run_in_threadpool(_touch, get_runtime(request), caller.stale_session)


# scope="function": the transaction commits before the page is sent (as for the API).
PageContext = Annotated[Context, Depends(_signed_in, scope="function")]
"""The signed-in user's context; without a valid session the page redirects to /login."""

PublicPageContext = Annotated[Context, Depends(_anyone, scope="function")]
"""For pages anyone may read: the signed-in user if there is one, else the public."""

PublicFormContext = Annotated[Context, Depends(_anyone_may_post, scope="function")]
"""For forms anyone may send (e.g. verifying a report): as PublicPageContext, but a post
without a session is taken as the public's instead of being sent to sign in."""
