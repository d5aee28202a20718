"""deliver_due: signed POSTs, retries with backoff on the injected clock, and the address policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text

from predeploy.accounts import Actor
from predeploy.audit.models import AuditEvent
from predeploy.clock import FrozenClock
from predeploy.notifications.delivery import DeliveryReport, deliver_due, verify_signature

from .conftest import HOOK_HOST, PUBLIC_IP, World

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        # A redirect towards the metadata address must not be followed.
        location = {"Location": "http://169.254.169.254/"} if 300 <= answer < 400 else {}
        return httpx.Response(answer, headers=location)


def _deliver(world: World, handler: Handler) -> DeliveryReport:
    with world.api.runtime.unit(Actor.system("webhook worker")) as ctx:
        return deliver_due(ctx, httpx.MockTransport(handler), resolver=world.dns)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _clock(world: World) -> FrozenClock:
    clock = world.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


def test_delivery_is_signed_and_pinned_to_the_checked_address(world: World) -> None:
    hook = world.add_webhook(secret="a-caller-chosen-secret-value")
    world.emit(kind="submission.accepted", payload={"model": "acme-m1", "n": 2})
    recorder = Recorder(204)

    assert _deliver(world, recorder) == DeliveryReport(delivered=1)

    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url.host == PUBLIC_IP  # connected to the address that passed the checks
    assert request.headers["host"] == HOOK_HOST
    assert request.extensions["sni_hostname"] == HOOK_HOST
    assert request.headers["x-predeploy-event"] == "submission.accepted"
    body = request.content
    document = json.loads(body)
    assert document["kind"] == "submission.accepted"
    assert document["org_id"] == world.dev_org
    assert document["subject"] == {"type": "submission", "id": "sub-1"}
    assert document["payload"] == {"model": "acme-m1", "n": 2}
    assert body == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    timestamp = request.headers["x-predeploy-timestamp"]
    assert int(timestamp) == int(_clock(world).now().timestamp())
    signature = request.headers["x-predeploy-signature"]
    assert verify_signature("a-caller-chosen-secret-value", timestamp, body, signature)
    assert not verify_signature("some-other-secret-value", timestamp, body, signature)

    (delivery,) = world.deliveries(hook["id"])
    assert request.headers["x-predeploy-delivery"] == delivery["id"]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 204
    assert delivery["delivered_at"] is not None

    assert _deliver(world, recorder) == DeliveryReport()  # nothing is sent twice
    assert len(recorder.requests) == 1


def test_retries_back_off_exponentially_on_the_clock(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    clock = _clock(world)
    start = clock.now()
    recorder = Recorder(500, httpx.ConnectError("connection refused"), 200)

    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    (delivery,) = world.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "pending",
        1,
        500,
    )
    assert delivery["last_error"] == "HTTP 500"
    assert delivery["next_attempt_at"] == _iso(start + timedelta(seconds=10))

    clock.advance(timedelta(seconds=9))
    assert _deliver(world, recorder) == DeliveryReport()  # not due yet
    clock.advance(timedelta(seconds=1))
    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    (delivery,) = world.deliveries(hook["id"])
    assert delivery["attempts"] == 2
    assert delivery["last_error"] == "network error (ConnectError)"
    assert delivery["last_status_code"] is None

    clock.advance(timedelta(seconds=19))  # the second wait is twice the first
    assert _deliver(world, recorder) == DeliveryReport()
    clock.advance(timedelta(seconds=1))
    assert _deliver(world, recorder) == DeliveryReport(delivered=1)
    assert len(recorder.requests) == 3
    (delivery,) = world.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    # Every attempt carries the same delivery id, so receivers can ignore repeats.
    assert len({r.headers["x-predeploy-delivery"] for r in recorder.requests}) == 1

    with world.api.runtime.transaction() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_type == "webhook_delivery")
                .order_by(AuditEvent.seq)
            )
        )
    assert actions == [
        "webhook.delivery.retry",
        "webhook.delivery.retry",
        "webhook.delivery.delivered",
    ]


def test_max_attempts_then_failed(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    recorder = Recorder(503)
    clock = _clock(world)
    reports = []
    for _ in range(3):
        reports.append(_deliver(world, recorder))
        clock.advance(timedelta(hours=1))
    assert reports == [
        DeliveryReport(retrying=1),
        DeliveryReport(retrying=1),
        DeliveryReport(failed=1),
    ]
    (delivery,) = world.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert delivery["next_attempt_at"] is None
    assert _deliver(world, recorder) == DeliveryReport()
    assert len(recorder.requests) == 3


def test_an_interrupted_attempt_counts_and_is_retried_after_its_lease(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    clock = _clock(world)
    start = clock.now()
    crash = Recorder(RuntimeError("the worker died mid-request"))
    with pytest.raises(RuntimeError):
        _deliver(world, crash)
    (delivery,) = world.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    # The claim was committed before sending: another worker waits out the first backoff.
    assert delivery["next_attempt_at"] == _iso(start + timedelta(seconds=10))
    assert _deliver(world, Recorder(200)) == DeliveryReport()

    for _ in range(2):
        clock.advance(timedelta(hours=1))
        with pytest.raises(RuntimeError):
            _deliver(world, crash)
    clock.advance(timedelta(hours=1))
    never = Recorder(200)
    assert _deliver(world, never) == DeliveryReport(failed=1)
    assert never.requests == []
    (delivery,) = world.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert delivery["last_error"] == "the last attempt was interrupted"


def test_timeouts_are_retried(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    recorder = Recorder(httpx.ReadTimeout("too slow"), 200)
    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    (delivery,) = world.deliveries(hook["id"])
    assert delivery["last_error"] == "timed out"
    _clock(world).advance(timedelta(seconds=10))
    assert _deliver(world, recorder) == DeliveryReport(delivered=1)


def test_redirects_are_not_followed(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    recorder = Recorder(302)
    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    assert len(recorder.requests) == 1
    (delivery,) = world.deliveries(hook["id"])
    assert (delivery["last_status_code"], delivery["last_error"]) == (302, "HTTP 302")


def test_host_removed_from_the_allowlist_is_refused_at_delivery(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    response = world.api.http.delete(
        f"/api/v1/webhooks/allowlist/{HOOK_HOST}", headers=world.api.agency_admin.headers
    )
    assert response.status_code == 200, response.text
    recorder = Recorder(200)
    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    assert recorder.requests == []
    (delivery,) = world.deliveries(hook["id"])
    assert "not on the allowlist" in delivery["last_error"]

    world.allow(HOOK_HOST)  # allowed again: the retry goes out
    _clock(world).advance(timedelta(seconds=10))
    assert _deliver(world, recorder) == DeliveryReport(delivered=1)


def test_host_resolving_to_a_link_local_address_is_refused(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    world.dns.answers[HOOK_HOST] = ["169.254.169.254"]
    recorder = Recorder(200)
    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    assert recorder.requests == []
    (delivery,) = world.deliveries(hook["id"])
    assert "link-local" in delivery["last_error"]


def test_private_address_needs_an_exact_entry(world: World) -> None:
    world.allow("*.corp.example")
    world.dns.answers["hooks.corp.example"] = ["10.0.0.5"]
    hook = world.add_webhook(url="https://hooks.corp.example/in")
    world.emit()
    recorder = Recorder(200)
    assert _deliver(world, recorder) == DeliveryReport(retrying=1)
    assert recorder.requests == []
    assert "non-public" in world.deliveries(hook["id"])[0]["last_error"]

    world.allow("hooks.corp.example")
    _clock(world).advance(timedelta(seconds=10))
    assert _deliver(world, recorder) == DeliveryReport(delivered=1)
    assert recorder.requests[0].url.host == "10.0.0.5"


def test_secret_is_encrypted_at_rest_and_never_returned_again(world: World) -> None:
    created = world.add_webhook()
    secret = created["secret"]
    assert len(secret) >= 32
    chosen = world.add_webhook(secret="my-own-signing-secret-123")
    assert chosen["secret"] == "my-own-signing-secret-123"

    listed = world.api.http.get("/api/v1/webhooks", headers=world.dev_admin.headers).json()
    assert all("secret" not in hook for hook in listed["items"])
    one = world.api.http.get(f"/api/v1/webhooks/{created['id']}", headers=world.dev_admin.headers)
    assert "secret" not in one.json()

    engine = world.api.runtime.engine
    assert engine is not None
    with engine.connect() as conn:
        stored = [
            bytes(row[0])
            for row in conn.execute(text("SELECT secret_encrypted FROM webhook_subscriptions"))
        ]
        audit = " ".join(str(row) for row in conn.execute(text("SELECT * FROM audit_events")))
    assert len(stored) == 2
    for raw in stored:
        assert secret.encode() not in raw
        assert b"my-own-signing-secret-123" not in raw
    assert secret not in audit
    assert "my-own-signing-secret-123" not in audit
