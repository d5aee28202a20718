"""Driving real Chromium (Debian's `chromium`) with Playwright, and the checks every page gets.

`check_page` saves a screenshot of the page (desktop and 390 px wide) under
`test-artifacts/web/`, and fails on any serious or critical axe-core violation or on a page that
scrolls sideways at 390 px.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
_axe = Axe()


def chromium_path() -> str:
    """Debian's chromium (`make test` installs it as root); PREDEPLOY_CHROMIUM overrides."""
    path = os.environ.get("PREDEPLOY_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "Debian's chromium is not installed: run `make test` as root, or apt-get install chromium"
        )
    return path


def check_page(page: Page, name: str) -> None:
    """Screenshot `page` as `name`, and check it with axe-core and at phone width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = _axe.run(page)
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not serious, f"axe-core on {name} ({page.url}):\n" + "\n".join(serious)
    desktop = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    finally:
        if desktop is not None:
            page.set_viewport_size(desktop)
    assert overflow <= 0, f"{name} ({page.url}) scrolls sideways by {overflow} px at 390 px wide"


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the login form and land on the dashboard."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
