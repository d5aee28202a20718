"""The web pages: server-rendered (Jinja2 + htmx), signed in with a password and a session
cookie, each page showing what the same service rules let its user see.

`install_web(app)` adds the pages, their static files and their security headers to the app;
`page_error` renders errors of page requests as pages.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import admin, advisories, auth, campaigns, clearinghouse, dashboard, reports, submissions
from ._errors import is_page, page_error
from ._headers import PageSecurityHeaders
from .clearinghouse import VULN_FORM_PATH
from .reports import VERIFY_PAGE_PATH

UPLOAD_PAGES = rf"^({re.escape(VERIFY_PAGE_PATH)}|{re.escape(VULN_FORM_PATH)})$"
"""Pages whose forms upload files: their bodies may be as large as an attachment."""


def install_web(app: FastAPI) -> None:
    """Add the pages, `/static/` and the pages' security headers to `app`."""
    for module in (
        auth,
        dashboard,
        submissions,
        campaigns,
        reports,
        clearinghouse,
        advisories,
        admin,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(packages=[("predeploy.web", "static")]), name="static")
    app.add_middleware(PageSecurityHeaders)


__all__ = ["UPLOAD_PAGES", "install_web", "is_page", "page_error"]
