"""Deadline notifications: accepted, window opened, report due in 72 h, overdue; once each."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from predeploy.notifications.models import NotificationEvent
from predeploy.submissions.service import scan_deadlines
from tests.conftest import START
from tests.submissions.conftest import API_KEY, World, as_system, iso

DAY = timedelta(days=1)


def _events(world: World, sub_id: str) -> list[str]:
    with world.system() as ctx:
        rows = ctx.session.scalars(
            select(NotificationEvent)
            .where(NotificationEvent.subject_id == sub_id)
            .order_by(NotificationEvent.created_at)
        ).all()
        assert all(API_KEY not in str(r.payload) for r in rows)
        assert all(r.org_id == world.acme for r in rows)
        return [r.kind for r in rows]


def _accepted(world: World, **fields: object) -> str:
    sub_id: str = world.submission(**fields)["id"]
    assert world.move(sub_id, "submitted", world.submitter).status_code == 200
    assert world.move(sub_id, "accepted", world.evaluator).status_code == 200
    return sub_id


def _scan(world: World) -> list[str]:
    return as_system(world, scan_deadlines)  # type: ignore[no-any-return]


def test_each_deadline_is_notified_once(world: World) -> None:
    clock = world.api.runtime.clock
    sub_id = _accepted(world, planned_release_at=iso(START + 20 * DAY))  # due at +18 days
    assert _events(world, sub_id) == ["submission.accepted"]
    assert _scan(world) == ["submission.window_opened"]
    assert _scan(world) == []
    clock.advance(15 * DAY - timedelta(minutes=1))  # type: ignore[attr-defined]
    assert _scan(world) == []  # 72 h and a minute before the deadline
    clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    assert _scan(world) == ["submission.report_due_soon"]
    assert _scan(world) == []
    clock.advance(3 * DAY)  # type: ignore[attr-defined]
    assert _scan(world) == ["submission.overdue"]
    assert _scan(world) == []
    # Acceptance and the window opening happen at the same (frozen) instant: compare as a set.
    assert sorted(_events(world, sub_id)) == [
        "submission.accepted",
        "submission.overdue",
        "submission.report_due_soon",
        "submission.window_opened",
    ]


def test_a_window_that_has_not_started_is_notified_when_it_opens(world: World) -> None:
    clock = world.api.runtime.clock
    sub_id = _accepted(world, planned_release_at=iso(START + 60 * DAY))
    assert _scan(world) == []
    clock.advance(30 * DAY)  # type: ignore[attr-defined]
    assert _scan(world) == ["submission.window_opened"]
    assert "submission.window_opened" in _events(world, sub_id)


def test_a_rescheduled_deadline_is_notified_again(world: World) -> None:
    clock = world.api.runtime.clock
    sub_id = _accepted(world, planned_release_at=iso(START + 10 * DAY))  # due at +8 days
    clock.advance(6 * DAY)  # type: ignore[attr-defined]
    assert _scan(world) == ["submission.window_opened", "submission.report_due_soon"]
    response = world.patch(
        f"/submissions/{sub_id}",
        world.submitter,
        {
            "planned_release_at": iso(START + 30 * DAY),
            "access_expires_at": iso(START + 30 * DAY),
        },
    )
    assert response.status_code == 200, response.text
    assert _scan(world) == []
    clock.advance(19 * DAY)  # type: ignore[attr-defined]
    assert _scan(world) == ["submission.report_due_soon"]


def test_drafts_and_ended_submissions_are_not_notified(world: World) -> None:
    model_id = world.model()["id"]
    world.submission(model_id=model_id)
    gone = world.submission(model_id=model_id)
    world.move(gone["id"], "withdrawn", world.submitter)
    world.api.runtime.clock.advance(25 * DAY)  # type: ignore[attr-defined]
    assert _scan(world) == []
