"""Sign-in and sign-out pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..accounts.actor import Actor
from ..accounts.sessions import SignedIn, sign_in, sign_out
from ..errors import NotAuthenticated, PermissionDenied, RateLimited
from ..runtime import Runtime
from ..web_deps import get_runtime
from ._session import (
    LOGIN_CSRF_COOKIE,
    PageContext,
    check_origin,
    session_cookie_name,
    submitted_csrf,
)
from ._templates import render_page

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a full URL): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return render_page(request, "login.html.j2", Actor.public(), next=_safe_next(next), error=None)


async def _login_csrf(request: Request) -> None:
    """The login form's double-submit check (there is no session yet to derive a token from);
    a dependency, so that it runs before the form's fields are validated."""
    check_origin(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    submitted = await submitted_csrf(request)
    if not expected or submitted is None or not secrets.compare_digest(expected, submitted):
        raise PermissionDenied(
            "the sign-in form's security token is missing or out of date: reload the page"
        )


@router.post("/login", dependencies=[Depends(_login_csrf)])
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    runtime = get_runtime(request)
    try:
        signed_in = await run_in_threadpool(_sign_in, runtime, email, password)
    except (NotAuthenticated, RateLimited) as failure:
        page = render_page(
            request,
            "login.html.j2",
            Actor.public(),
            status_code=failure.status_code,
            next=_safe_next(next),
            error=failure.message,
            email=email,
        )
        if isinstance(failure, RateLimited):
            page.headers["Retry-After"] = str(failure.retry_after_seconds)
        return page
    response = RedirectResponse(_safe_next(next), status_code=303)
    settings = runtime.settings
    response.set_cookie(
        session_cookie_name(settings),
        signed_in.cookie,
        max_age=int(settings.session_max_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _sign_in(runtime: Runtime, email: str, password: str) -> SignedIn:
    with runtime.unit(Actor.system("web sign-in")) as ctx:
        return sign_in(ctx, email, password)


@router.post("/logout")
def logout(request: Request, ctx: PageContext) -> Response:
    sign_out(ctx)
    response = RedirectResponse("/login", status_code=303)
    settings = ctx.settings
    response.delete_cookie(
        session_cookie_name(settings), path="/", secure=settings.cookie_secure, httponly=True
    )
    return response
