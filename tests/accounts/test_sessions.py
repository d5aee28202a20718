"""Web sign-in: passwords, session lifetime, lockout, and the CSRF token (service level)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from predeploy.accounts import Actor
from predeploy.accounts.models import User, WebSession
from predeploy.accounts.schemas import OrgCreate, UserCreate
from predeploy.accounts.service import bootstrap, create_org, create_user, set_password
from predeploy.accounts.sessions import (
    csrf_token,
    csrf_valid,
    purge_sessions,
    session_actor,
    sign_in,
    sign_out,
    still_signed_in,
    touch,
)
from predeploy.audit.models import AuditEvent
from predeploy.campaigns.transcripts import campaign_snapshot
from predeploy.clock import FrozenClock
from predeploy.errors import InvalidInput, NotAuthenticated, NotFound, RateLimited
from predeploy.runtime import Runtime

PASSWORD = "a long enough passphrase"


@pytest.fixture
def people(runtime: Runtime) -> dict[str, str]:
    with runtime.unit(Actor.system("test")) as ctx:
        agency = bootstrap(ctx, "Agency", "admin@agency.example", PASSWORD)
        lab = create_org(ctx, OrgCreate(name="Lab", capacities=["developer"]))
        sub = create_user(
            ctx,
            UserCreate(email="sub@lab.example", org_id=lab.id, roles=["submitter"]),
            password=PASSWORD,
        )
    return {"admin": agency.user_id, "submitter": sub.id, "lab": lab.id}


def _sign_in(runtime: Runtime, email: str, password: str = PASSWORD) -> str:
    with runtime.unit(Actor.system("web")) as ctx:
        return sign_in(ctx, email, password).cookie


def _actor(runtime: Runtime, cookie: str) -> Actor:
    with runtime.transaction() as session:
        actor, _ = session_actor(session, runtime.clock, runtime.settings, cookie)
        return actor


def test_sign_in_gives_the_users_roles_and_scopes_and_is_audited(
    runtime: Runtime, people: dict[str, str]
) -> None:
    cookie = _sign_in(runtime, "SUB@lab.example ")
    actor = _actor(runtime, cookie)
    assert actor.user_id == people["submitter"]
    assert actor.org_id == people["lab"]
    assert {r.value for r in actor.roles} == {"submitter"}
    assert {s.value for s in actor.scopes} == {"read", "write"}
    assert actor.session_id is not None
    with runtime.transaction() as session:
        stored = session.scalars(select(WebSession.token_hash)).all()
        assert cookie not in stored, "only the cookie's hash is stored"
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "user.sign_in" in actions


@pytest.mark.parametrize(
    ("email", "password"),
    [("sub@lab.example", "wrong password here"), ("nobody@lab.example", PASSWORD)],
)
def test_wrong_email_or_password_gets_the_same_answer(
    runtime: Runtime, people: dict[str, str], email: str, password: str
) -> None:
    with pytest.raises(NotAuthenticated, match=r"^wrong email or password$"):
        _sign_in(runtime, email, password)
    with runtime.transaction() as session:
        assert session.scalar(select(WebSession.id)) is None


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    runtime: Runtime, people: dict[str, str], clock: FrozenClock
) -> None:
    for _ in range(runtime.settings.login_max_failures):
        with pytest.raises(NotAuthenticated):
            _sign_in(runtime, "sub@lab.example", "not the password")
    with pytest.raises(RateLimited) as locked:
        _sign_in(runtime, "sub@lab.example")
    assert locked.value.retry_after_seconds > 0
    clock.advance(timedelta(minutes=runtime.settings.login_lockout_minutes, seconds=1))
    assert _actor(runtime, _sign_in(runtime, "sub@lab.example")).user_id == people["submitter"]
    with runtime.transaction() as session:
        user = session.get(User, people["submitter"])
        assert user is not None and user.failed_logins == 0


def test_idle_and_old_sessions_end(
    runtime: Runtime, people: dict[str, str], clock: FrozenClock
) -> None:
    cookie = _sign_in(runtime, "sub@lab.example")
    clock.advance(timedelta(minutes=runtime.settings.session_idle_minutes + 1))
    with pytest.raises(NotAuthenticated, match="session has ended"):
        _actor(runtime, cookie)

    cookie = _sign_in(runtime, "sub@lab.example")
    steps = int(runtime.settings.session_max_hours * 60 / 20) + 1
    with pytest.raises(NotAuthenticated):
        for _ in range(steps):
            clock.advance(timedelta(minutes=20))
            with runtime.transaction() as session:
                actor, stale = session_actor(session, clock, runtime.settings, cookie)
                assert stale, "20 minutes after the last request, it is written again"
                assert actor.session_id is not None
                touch(session, clock, actor.session_id)


def test_sign_out_and_a_new_password_end_sessions(runtime: Runtime, people: dict[str, str]) -> None:
    first = _sign_in(runtime, "sub@lab.example")
    second = _sign_in(runtime, "sub@lab.example")
    actor = _actor(runtime, first)
    with runtime.unit(actor) as ctx:
        sign_out(ctx)
    with pytest.raises(NotAuthenticated):
        _actor(runtime, first)
    assert _actor(runtime, second).user_id == people["submitter"]
    with runtime.unit(Actor.system("admin")) as ctx:
        set_password(ctx, "sub@lab.example", "a brand new passphrase")
    with pytest.raises(NotAuthenticated):
        _actor(runtime, second)
    with runtime.transaction() as session:
        assert actor.session_id is not None
        assert not still_signed_in(session, runtime.clock, runtime.settings, actor.session_id)
    with pytest.raises(NotAuthenticated):
        _sign_in(runtime, "sub@lab.example")
    assert _sign_in(runtime, "sub@lab.example", "a brand new passphrase")


def test_a_disabled_user_is_signed_out(runtime: Runtime, people: dict[str, str]) -> None:
    cookie = _sign_in(runtime, "sub@lab.example")
    with runtime.transaction() as session:
        user = session.get(User, people["submitter"])
        assert user is not None
        user.is_active = False
    with pytest.raises(NotAuthenticated):
        _actor(runtime, cookie)
    with pytest.raises(NotAuthenticated):
        _sign_in(runtime, "sub@lab.example")


def test_short_passwords_are_refused(runtime: Runtime, people: dict[str, str]) -> None:
    with runtime.unit(Actor.system("admin")) as ctx, pytest.raises(InvalidInput) as refused:
        set_password(ctx, "sub@lab.example", "short")
    assert refused.value.field == "password"


def test_csrf_token_belongs_to_its_session() -> None:
    assert csrf_valid("cookie-a", csrf_token("cookie-a"))
    assert not csrf_valid("cookie-b", csrf_token("cookie-a"))
    assert not csrf_valid("cookie-a", None)
    assert not csrf_valid("cookie-a", "")


def test_a_campaign_stream_stops_when_its_session_ends(
    runtime: Runtime, people: dict[str, str]
) -> None:
    cookie = _sign_in(runtime, "sub@lab.example")
    actor = _actor(runtime, cookie)
    with pytest.raises(NotFound):
        campaign_snapshot(runtime, actor, "no-such-campaign")
    with runtime.unit(actor) as ctx:
        sign_out(ctx)
    with pytest.raises(NotAuthenticated):
        campaign_snapshot(runtime, actor, "no-such-campaign")


def test_old_sessions_are_purged_and_live_ones_kept(
    runtime: Runtime, people: dict[str, str], clock: FrozenClock
) -> None:
    ended = _sign_in(runtime, "sub@lab.example")
    with runtime.unit(_actor(runtime, ended)) as ctx:
        sign_out(ctx)
    clock.advance(timedelta(days=2))
    live = _sign_in(runtime, "sub@lab.example")
    with runtime.unit(Actor.system("scheduler")) as ctx:
        assert purge_sessions(ctx) == 1
    assert _actor(runtime, live).user_id == people["submitter"]
