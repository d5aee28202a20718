"""emit: once per dedupe key, in the caller's transaction, routed to the right subscriptions."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from predeploy.accounts import Actor
from predeploy.audit.models import AuditEvent
from predeploy.notifications.models import NotificationEvent, WebhookDelivery
from predeploy.notifications.service import emit
from predeploy.runtime import Context

from .conftest import World


def _count(world: World, model: type[NotificationEvent] | type[WebhookDelivery]) -> int:
    with world.api.runtime.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_emit_with_the_same_dedupe_key_is_a_no_op(world: World) -> None:
    world.add_webhook()
    world.emit(dedupe_key="submission:sub-1:accepted")
    world.emit(dedupe_key="submission:sub-1:accepted")
    assert _count(world, NotificationEvent) == 1
    assert _count(world, WebhookDelivery) == 1
    world.emit(dedupe_key="submission:sub-1:overdue")
    world.emit()
    world.emit()
    assert _count(world, NotificationEvent) == 4


def test_dedupe_holds_within_one_transaction(world: World) -> None:
    with world.api.runtime.unit(Actor.system("test")) as ctx:
        for _ in range(2):
            emit(
                ctx,
                "submission.window_opened",
                org_id=world.dev_org,
                subject_type="submission",
                subject_id="s",
                payload={},
                dedupe_key="k",
            )
    assert _count(world, NotificationEvent) == 1


def _emit_race(ctx: Context, org_id: str) -> None:
    emit(
        ctx,
        "submission.accepted",
        org_id=org_id,
        subject_type="submission",
        subject_id="s",
        payload={},
        dedupe_key="race",
    )


def _wait_for_lock_wait(world: World) -> None:
    engine = world.api.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the second emit never waited for the first")


@pytest.mark.postgres_only
def test_concurrent_emits_with_one_key_store_one_event(world: World, db_url: str) -> None:
    # Only PostgreSQL lets two emits interleave: SQLite serialises writers at BEGIN.
    assert db_url.startswith("postgresql")
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with world.api.runtime.unit(Actor.system("second")) as ctx:
                _emit_race(ctx, world.dev_org)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second)
    with world.api.runtime.unit(Actor.system("first")) as ctx:
        _emit_race(ctx, world.dev_org)
        thread.start()
        # The second emit has passed its duplicate check and now waits on the unique key.
        _wait_for_lock_wait(world)
    thread.join()
    assert errors == []
    assert _count(world, NotificationEvent) == 1


def test_emit_rolls_back_with_the_callers_transaction(world: World) -> None:
    world.add_webhook()
    with pytest.raises(RuntimeError), world.api.runtime.unit(Actor.system("test")) as ctx:
        emit(
            ctx,
            "submission.accepted",
            org_id=world.dev_org,
            subject_type="submission",
            subject_id="s",
            payload={},
        )
        raise RuntimeError("the caller's change failed")
    assert _count(world, NotificationEvent) == 0
    assert _count(world, WebhookDelivery) == 0


def test_emit_refuses_bad_kinds_and_unserialisable_payloads(world: World) -> None:
    with pytest.raises(ValueError, match="dotted"):
        world.emit(kind="Accepted")
    with pytest.raises(ValueError):
        world.emit(payload={"x": float("nan")})
    assert _count(world, NotificationEvent) == 0


def test_emit_for_an_unknown_org_fails_even_with_a_dedupe_key(world: World) -> None:
    with pytest.raises(IntegrityError):
        world.emit(org_id="no-such-org", dedupe_key="k")
    assert _count(world, NotificationEvent) == 0


def test_emit_is_audited(world: World) -> None:
    world.emit(kind="submission.overdue")
    with world.api.runtime.transaction() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "notification.emit")
        ).one()
    assert event.org_id == world.dev_org
    assert event.detail["kind"] == "submission.overdue"


def test_routing_by_org_kind_and_agency(world: World) -> None:
    api = world.api
    other_org = api.org("Other Labs", "developer")
    other_admin = api.user(other_org, "admin")
    own = world.add_webhook(events=["submission.*"])
    only_overdue = world.add_webhook(events=["submission.overdue"])
    other = world.add_webhook(other_admin, events=["*"])
    agency = world.add_webhook(api.agency_admin, events=["*"])

    world.emit(kind="submission.accepted")

    assert len(world.deliveries(own["id"])) == 1
    assert world.deliveries(only_overdue["id"]) == []
    assert world.deliveries(other["id"], other_admin) == []
    assert len(world.deliveries(agency["id"], api.agency_admin)) == 1

    world.emit(org_id=other_org, kind="submission.overdue")
    assert len(world.deliveries(own["id"])) == 1
    assert world.deliveries(only_overdue["id"]) == []
    assert len(world.deliveries(other["id"], other_admin)) == 1
    assert len(world.deliveries(agency["id"], api.agency_admin)) == 2


def test_deleted_webhook_gets_nothing_and_its_pending_deliveries_are_cancelled(
    world: World,
) -> None:
    hook = world.add_webhook()
    world.emit()
    response = world.api.http.delete(
        f"/api/v1/webhooks/{hook['id']}", headers=world.dev_admin.headers
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    world.emit()
    (only,) = world.deliveries(hook["id"])
    assert only["status"] == "failed"
    assert only["last_error"] == "webhook deleted before delivery"
