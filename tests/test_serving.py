"""Several server processes share a listening socket that asyncio treats as TCP; behind a reverse
proxy they share sessions and lockouts and name the public URL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from predeploy.accounts import Actor
from predeploy.accounts.service import bootstrap
from predeploy.config import Settings
from predeploy.migrate import upgrade
from predeploy.runtime import Runtime
from predeploy.serving import bind_tcp


async def _nodelay_of_accepted(listener: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    listener.listen()
    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(accepted, timeout=5)
    finally:
        writer.close()
        server.close()


def test_accepted_connections_get_tcp_nodelay() -> None:
    listener = bind_tcp("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(_nodelay_of_accepted(listener)) != 0


# --- several API processes behind a reverse proxy (docs/operations.md) ----------------------

PUBLIC = "https://predeploy.test"
# What a TLS-terminating proxy configured as the guide says sends with each request.
FORWARDED = {"Host": "predeploy.test", "X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each cookie the response sets: name -> the whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def _value(set_cookie: str) -> str:
    return set_cookie.split("=", 1)[1].split(";", 1)[0]


@dataclass
class Proxied:
    """Requests to a `predeploy serve --workers 2` as they come from the proxy, each on a new
    connection (so the kernel may hand it to either process)."""

    base_url: str

    def send(self, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {**FORWARDED, **options.pop("headers", {})}
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.base_url, limits=limits, timeout=30) as client:
            return client.request(method, path, headers=headers, **options)

    def login_form(self) -> str:
        """The login form's CSRF token (its cookie's value: double submit)."""
        form = self.send("GET", "/login")
        assert form.status_code == 200, form.text
        cookie = _set_cookies(form)["predeploy_login_csrf"]
        assert "secure" in cookie.lower()
        return _value(cookie)

    def sign_in(self, token: str, password: str, **headers: str) -> httpx.Response:
        return self.send(
            "POST",
            "/login",
            data={"email": "admin@agency.test", "password": password, "csrf_token": token},
            headers={"Cookie": f"predeploy_login_csrf={token}", "Origin": PUBLIC, **headers},
        )


@pytest.fixture
def proxied(settings: Settings) -> Iterator[Proxied]:
    runtime = Runtime(settings=settings)
    upgrade(settings.resolved_database_url)
    with runtime.unit(Actor.system("test")) as ctx:
        bootstrap(ctx, "Agency", "admin@agency.test", PASSWORD)
    port = _free_port()
    env = {
        **os.environ,
        "PREDEPLOY_DATA_DIR": str(settings.data_dir),
        "PREDEPLOY_DATABASE_URL": settings.resolved_database_url,
        "PREDEPLOY_PUBLIC_URL": PUBLIC,
        "PREDEPLOY_COOKIE_SECURE": "true",
    }
    command = [sys.executable, "-m", "predeploy", "serve", "--port", str(port), "--workers", "2",
               "--no-scheduler"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < 2 or not _healthy(port):
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        yield Proxied(f"http://127.0.0.1:{port}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        runtime.engine.dispose()
        # The servers started gpg-agent for the provider's OpenPGP key; it outlives them.
        home = settings.data_dir / "openpgp"
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                       check=False, capture_output=True)  # fmt: skip


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
@pytest.mark.postgres_only
def test_api_processes_behind_a_proxy_share_sessions_and_lockouts(proxied: Proxied) -> None:
    # Signed in through one process, the session holds in whichever process serves next.
    token = proxied.login_form()
    signed_in = proxied.sign_in(token, PASSWORD)
    assert signed_in.status_code == 303, signed_in.text
    session = _set_cookies(signed_in)["__Host-predeploy_session"]
    assert all(flag in session.lower() for flag in ("secure", "httponly", "samesite=strict"))
    cookie = {"Cookie": f"__Host-predeploy_session={_value(session)}"}
    for _ in range(20):
        page = proxied.send("GET", "/", headers=cookie)
        assert page.status_code == 200 and "admin@agency.test" in page.text
    # Links and feeds name the public URL, not the address the proxy reached.
    metadata = proxied.send("GET", "/.well-known/csaf/provider-metadata.json").json()
    assert metadata["canonical_url"].startswith(f"{PUBLIC}/")

    # A proxy that does not say the request came over https: the browser's https Origin is
    # then another site's, and the sign-in is refused.
    unforwarded = proxied.sign_in(token, PASSWORD, **{"X-Forwarded-Proto": "http"})
    assert unforwarded.status_code == 403

    # Failures counted by every process lock the account for all of them.
    failures = [proxied.sign_in(token, "wrong password, many times").status_code for _ in range(10)]
    assert failures == [401] * 10
    assert proxied.sign_in(token, PASSWORD).status_code == 429
