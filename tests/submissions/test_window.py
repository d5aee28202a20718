"""Property tests of the window rules (pure functions: no database, run once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from predeploy.errors import InvalidInput
from predeploy.submissions.window import (
    WindowPolicy,
    WindowState,
    days_remaining,
    plan_window,
    reschedule_window,
    window_state,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = WindowPolicy()  # 30-day window, 2-day buffer, 7-day minimum, 365 days ahead
DAY = timedelta(days=1)

offsets = st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400))
policies = st.builds(
    WindowPolicy,
    max_window_days=st.floats(1, 90),
    report_buffer_days=st.floats(0, 10),
    min_window_days=st.floats(0, 30),
    max_release_ahead_days=st.floats(30, 730),
)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))]
)


def _feasible(policy: WindowPolicy, release: datetime, granted: datetime) -> bool:
    start = max(granted, release - policy.max_window_days * DAY)
    due = release - policy.report_buffer_days * DAY
    return (
        release > NOW
        and release - NOW <= policy.max_release_ahead_days * DAY
        and start < due
        and due > NOW
    )


@given(policy=policies, release_in=offsets, granted_in=offsets, tz=zones)
@example(policy=POLICY, release_in=20 * DAY, granted_in=timedelta(0), tz=UTC)
@example(policy=POLICY, release_in=3 * DAY, granted_in=timedelta(0), tz=UTC)
def test_window_invariants(
    policy: WindowPolicy, release_in: timedelta, granted_in: timedelta, tz: timezone
) -> None:
    release = (NOW + release_in).astimezone(tz)
    granted = (NOW + granted_in).astimezone(tz)
    feasible = _feasible(policy, release, granted)
    try:
        window = plan_window(policy, planned_release_at=release, access_granted_at=granted, now=NOW)
    except InvalidInput as exc:
        assert not feasible
        assert exc.field in ("planned_release_at", "access_granted_at")
        return
    assert feasible
    assert window.window_start == max(granted, release - policy.max_window_days * DAY)
    assert window.window_start >= granted
    assert window.window_start >= release - policy.max_window_days * DAY
    assert window.report_due_at == release - policy.report_buffer_days * DAY
    assert window.window_start < window.report_due_at <= release
    assert window.report_due_at > NOW
    assert window.window_start.tzinfo is not None and window.window_start.utcoffset() == DAY * 0
    usable = window.report_due_at - max(window.window_start, NOW)
    assert window.compressed == (usable < policy.min_window_days * DAY)
    assert any(w.startswith("compressed_window") for w in window.warnings) == window.compressed


@given(release_in=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(0)))
def test_a_release_in_the_past_is_refused(release_in: timedelta) -> None:
    with pytest.raises(InvalidInput, match="in the past") as info:
        plan_window(POLICY, planned_release_at=NOW + release_in, access_granted_at=NOW, now=NOW)
    assert info.value.field == "planned_release_at"


@given(extra=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=1000)))
def test_a_release_too_far_ahead_is_refused(extra: timedelta) -> None:
    release = NOW + 365 * DAY + extra
    with pytest.raises(InvalidInput, match="365 days ahead"):
        plan_window(POLICY, planned_release_at=release, access_granted_at=NOW, now=NOW)


def test_no_window_says_so_and_names_the_cause() -> None:
    # Released in 36 hours: the report (due 2 days before) would be due in the past.
    with pytest.raises(InvalidInput, match="no testing window") as info:
        plan_window(POLICY, planned_release_at=NOW + DAY * 1.5, access_granted_at=NOW, now=NOW)
    assert info.value.field == "planned_release_at"
    # Access granted after the report would be due: the grant is what leaves no window.
    with pytest.raises(InvalidInput, match="no testing window") as info:
        plan_window(
            POLICY, planned_release_at=NOW + 20 * DAY, access_granted_at=NOW + 19 * DAY, now=NOW
        )
    assert info.value.field == "access_granted_at"


def test_short_window_is_accepted_but_flagged() -> None:
    window = plan_window(POLICY, planned_release_at=NOW + 5 * DAY, access_granted_at=NOW, now=NOW)
    assert window.compressed
    assert "compressed_window" in window.warnings[0]
    assert "3.0 days" in window.warnings[0]


@pytest.mark.parametrize("field", ["planned_release_at", "access_granted_at", "now"])
def test_naive_datetimes_are_refused_with_a_message_about_the_timezone(field: str) -> None:
    times = {"planned_release_at": NOW + 20 * DAY, "access_granted_at": NOW, "now": NOW}
    times[field] = times[field].replace(tzinfo=None)
    with pytest.raises(InvalidInput, match="timezone is required") as info:
        plan_window(POLICY, **times)
    assert info.value.field == field


@given(
    release_in=st.timedeltas(min_value=3 * DAY, max_value=300 * DAY),
    elapsed=st.timedeltas(min_value=timedelta(0), max_value=60 * DAY),
    postpone=st.timedeltas(min_value=timedelta(0), max_value=200 * DAY),
)
def test_postponing_never_closes_an_open_window(
    release_in: timedelta, elapsed: timedelta, postpone: timedelta
) -> None:
    release = NOW + release_in
    assume(release - 2 * DAY > NOW)
    first = plan_window(POLICY, planned_release_at=release, access_granted_at=NOW, now=NOW)
    later = NOW + elapsed
    before = window_state(first.window_start, first.report_due_at, later)
    assume(release + postpone - later <= 365 * DAY)
    assume(before is not WindowState.CLOSED)  # only windows that can still close are at stake
    moved = reschedule_window(
        POLICY,
        current_window_start=first.window_start,
        planned_release_at=release + postpone,
        access_granted_at=NOW,
        now=later,
    )
    after = window_state(moved.window_start, moved.report_due_at, later)
    if before is WindowState.OPEN:
        assert after is WindowState.OPEN
        assert moved.window_start == first.window_start
    assert moved.report_due_at == first.report_due_at + postpone


@given(start_in=offsets, length=st.timedeltas(min_value=timedelta(seconds=1), max_value=60 * DAY))
def test_window_state_and_days_remaining(start_in: timedelta, length: timedelta) -> None:
    start = NOW + start_in
    due = start + length
    state = window_state(start, due, NOW)
    assert state is (
        WindowState.NOT_STARTED
        if start > NOW
        else WindowState.OPEN
        if due > NOW
        else WindowState.CLOSED
    )
    assert window_state(start, due, NOW, ended=True) is WindowState.CLOSED
    remaining = days_remaining(due, NOW)
    assert abs(remaining * DAY - (due - NOW)) <= DAY / 200
    assert remaining <= 0 if due <= NOW else remaining >= 0
