"""Errors on web pages: an error page in the site's layout, or the sign-in page when the
session is missing or has ended."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from ..accounts.actor import Actor
from ._templates import environment, render_page

NOT_PAGES = ("/api/", "/taxii2", "/.well-known/", "/static/")

_TITLES = {
    400: "Bad request",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Check the form",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Busy",
}


def is_page(path: str) -> bool:
    return path != "/api" and not path.startswith(NOT_PAGES)


def page_error(request: Request, status: int, message: str, field: str | None) -> Response | None:
    """The error page for a page request (None for API requests, which get JSON)."""
    if not is_page(request.url.path):
        return None
    if status == 401:
        target = request.url.path if request.method == "GET" else "/"
        if request.url.query and request.method == "GET":
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    actor: Actor = getattr(request.state, "actor", None) or Actor.public()
    return render_page(
        request,
        "error.html.j2",
        actor,
        status_code=status,
        title=_TITLES.get(status, "Error"),
        message=message,
        field=field,
    )


__all__ = ["environment", "is_page", "page_error"]
