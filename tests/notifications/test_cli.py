"""The CLI, and one real delivery over loopback to a receiver running in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from typer.testing import CliRunner

from predeploy.cli import app
from predeploy.client import Client
from predeploy.notifications import cli as notifications_cli
from predeploy.notifications.delivery import verify_signature
from tests.conftest import Caller

from .conftest import World

runner = CliRunner()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that answers 204 and keeps what it got."""
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            got.append(Received(dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Receiver(port=server.server_address[1], received=got)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def remote(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the remote commands' SDK client at the test app (no network)."""

    def forward(request: httpx2.Request) -> httpx2.Response:
        answer = world.api.http.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers=dict(request.headers),
        )
        return httpx2.Response(answer.status_code, content=answer.content)

    def client(server: str | None, token: str | None) -> Client:
        assert server == "http://predeploy.test"
        return Client(server, token, transport=httpx2.MockTransport(forward))

    monkeypatch.setattr(notifications_cli, "remote_client", client)


def _remote_args(caller: Caller) -> list[str]:
    return ["--server", "http://predeploy.test", "--token", caller.token]


def test_real_delivery_to_a_loopback_receiver_via_the_cli(
    world: World, receiver: Receiver, remote: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow = runner.invoke(
        app,
        ["webhooks", "allow", f"127.0.0.1:{receiver.port}", *_remote_args(world.api.agency_admin)],
    )
    assert allow.exit_code == 0, allow.output
    added = runner.invoke(
        app,
        [
            "webhooks",
            "add",
            f"http://127.0.0.1:{receiver.port}/hook",
            "--event",
            "submission.accepted",
            "--json",
            *_remote_args(world.dev_admin),
        ],
    )
    assert added.exit_code == 0, added.output
    secret = json.loads(added.stdout)["secret"]
    world.emit(kind="submission.accepted")
    world.emit(kind="submission.overdue")  # not subscribed to

    # The server-side command, on this test's database and frozen clock.
    monkeypatch.setattr(notifications_cli, "local_runtime", lambda: world.api.runtime)
    result = runner.invoke(app, ["notifications", "deliver", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"delivered": 1, "retrying": 0, "failed": 0}

    (got,) = receiver.received
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["x-predeploy-event"] == "submission.accepted"
    assert json.loads(got.body)["kind"] == "submission.accepted"
    assert verify_signature(
        secret, headers["x-predeploy-timestamp"], got.body, headers["x-predeploy-signature"]
    )
    assert not verify_signature(
        "not-the-secret-at-all",
        headers["x-predeploy-timestamp"],
        got.body,
        headers["x-predeploy-signature"],
    )


def test_add_refused_host_reports_the_field(world: World, remote: None) -> None:
    result = runner.invoke(
        app,
        [
            "webhooks",
            "add",
            "https://nope.example/h",
            "--event",
            "*",
            *_remote_args(world.dev_admin),
        ],
    )
    assert result.exit_code == 1
    assert "field: url" in result.output
    assert "allowlist" in result.output


def test_add_with_secret_from_env_does_not_print_it(
    world: World, remote: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "an-env-provided-secret")
    result = runner.invoke(
        app,
        [
            "webhooks",
            "add",
            "https://hooks.example.com/in",
            "--event",
            "submission.*",
            "--secret-env",
            "HOOK_SECRET",
            *_remote_args(world.dev_admin),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "an-env-provided-secret" not in result.output
    listed = runner.invoke(app, ["webhooks", "list", "--json", *_remote_args(world.dev_admin)])
    assert listed.exit_code == 0, listed.output
    (hook,) = json.loads(listed.stdout)
    assert hook["events"] == ["submission.*"]
    assert "secret" not in hook


def test_disallow_removes_the_entry(world: World, remote: None) -> None:
    result = runner.invoke(
        app, ["webhooks", "disallow", "hooks.example.com", *_remote_args(world.api.agency_admin)]
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(
        app, ["webhooks", "disallow", "hooks.example.com", *_remote_args(world.api.agency_admin)]
    )
    assert again.exit_code == 1
    assert "not on the allowlist" in again.output
