"""The state machine, table-driven over every pair of states, through the HTTP API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from predeploy.audit.models import AuditEvent
from predeploy.errors import PermissionDenied
from predeploy.submissions import service
from predeploy.submissions.states import FINAL_STATES, MOVES, Party, State, describe_allowed
from tests.conftest import Caller
from tests.submissions.conftest import World, as_system

# How to reach each state from a fresh draft: (target, party) steps.
PATHS: dict[State, list[tuple[State, Party]]] = {
    State.DRAFT: [],
    State.SUBMITTED: [(State.SUBMITTED, Party.DEVELOPER)],
    State.ACCEPTED: [(State.SUBMITTED, Party.DEVELOPER), (State.ACCEPTED, Party.AGENCY)],
    State.TESTING: [
        (State.SUBMITTED, Party.DEVELOPER),
        (State.ACCEPTED, Party.AGENCY),
        (State.TESTING, Party.SYSTEM),
    ],
    State.REPORT_ISSUED: [
        (State.SUBMITTED, Party.DEVELOPER),
        (State.ACCEPTED, Party.AGENCY),
        (State.TESTING, Party.SYSTEM),
        (State.REPORT_ISSUED, Party.SYSTEM),
    ],
    State.CLOSED: [
        (State.SUBMITTED, Party.DEVELOPER),
        (State.ACCEPTED, Party.AGENCY),
        (State.TESTING, Party.SYSTEM),
        (State.REPORT_ISSUED, Party.SYSTEM),
        (State.CLOSED, Party.AGENCY),
    ],
    State.WITHDRAWN: [(State.WITHDRAWN, Party.DEVELOPER)],
    State.DECLINED: [(State.SUBMITTED, Party.DEVELOPER), (State.DECLINED, Party.AGENCY)],
}


def _caller(world: World, party: Party) -> Caller:
    return world.submitter if party is Party.DEVELOPER else world.evaluator


def _reach(world: World, model_id: str, state: State) -> str:
    sub_id: str = world.submission(model_id=model_id)["id"]
    for target, party in PATHS[state]:
        if party is Party.SYSTEM:
            mark = service.mark_testing if target is State.TESTING else service.mark_report_issued
            as_system(world, mark, sub_id)
        else:
            response = world.move(sub_id, target.value, _caller(world, party))
            assert response.status_code == 200, response.text
    assert world.get(f"/submissions/{sub_id}", world.submitter).json()["state"] == state.value
    return sub_id


def test_the_table_covers_the_issue() -> None:
    pairs = {(m.source, m.target): m.party for m in MOVES}
    assert pairs[(State.ACCEPTED, State.TESTING)] is Party.SYSTEM
    assert pairs[(State.TESTING, State.REPORT_ISSUED)] is Party.SYSTEM
    for source in State:
        before_report = source in {State.DRAFT, State.SUBMITTED, State.ACCEPTED, State.TESTING}
        assert ((source, State.WITHDRAWN) in pairs) == before_report
    for final in FINAL_STATES:
        assert not [m for m in MOVES if m.source is final]


@pytest.mark.parametrize("source", list(State), ids=lambda s: s.value)
def test_every_pair_of_states(world: World, source: State) -> None:
    model_id = world.model()["id"]
    for target in State:
        sub_id = _reach(world, model_id, source)
        legal = next((m for m in MOVES if m.source is source and m.target is target), None)
        if legal is not None and legal.party is not Party.SYSTEM:
            wrong = world.evaluator if legal.party is Party.DEVELOPER else world.submitter
            refused = world.move(sub_id, target.value, wrong)
            assert refused.status_code == 403, (source, target, refused.text)
            response = world.move(sub_id, target.value, _caller(world, legal.party), "because")
            assert response.status_code == 200, (source, target, response.text)
            body = response.json()
            assert body["state"] == target.value
            assert body["history"][-1] == {
                **body["history"][-1],
                "from_state": source.value,
                "to_state": target.value,
                "reason": "because",
                "party": legal.party.value,
            }
            with world.system() as ctx:
                actions = ctx.session.scalars(
                    select(AuditEvent.detail).where(
                        AuditEvent.object_id == sub_id, AuditEvent.action == "submission.transition"
                    )
                ).all()
            assert actions[-1] == {"from": source.value, "to": target.value}
            continue
        for caller in (world.submitter, world.evaluator, world.agency_admin):
            response = world.move(sub_id, target.value, caller)
            assert response.status_code == 409, (source, target, response.text)
            error = response.json()["error"]
            assert error["field"] == "to"
            assert describe_allowed(source) in error["message"]
        after = world.get(f"/submissions/{sub_id}", world.submitter).json()
        assert after["state"] == source.value


def test_409_lists_the_allowed_moves(world: World) -> None:
    sub_id = _reach(world, world.model()["id"], State.ACCEPTED)
    response = world.move(sub_id, "testing", world.evaluator)
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert "testing is set only by the system" in message
    assert "withdrawn (by the developer)" in message
    assert "closed" not in message


def test_unknown_state_is_422(world: World) -> None:
    sub_id = world.submission()["id"]
    response = world.move(sub_id, "launched", world.submitter)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "to"


def test_system_only_moves_refuse_people_and_repeat_quietly(world: World) -> None:
    sub_id = _reach(world, world.model()["id"], State.ACCEPTED)
    evaluator = world.actor(world.evaluator)
    with world.api.runtime.unit(evaluator) as ctx, pytest.raises(PermissionDenied):
        service.mark_testing(ctx, sub_id)
    first = as_system(world, service.mark_testing, sub_id)
    again = as_system(world, service.mark_testing, sub_id)
    assert first.state == again.state == State.TESTING
    assert len(again.history) == len(first.history)


def test_viewer_and_read_only_tokens_cannot_move(world: World) -> None:
    sub_id = world.submission()["id"]
    assert world.move(sub_id, "submitted", world.dev_viewer).status_code == 403
    read_only = world.api.http.post(
        "/api/v1/tokens", json={"scopes": ["read"]}, headers=world.submitter.headers
    ).json()["token"]
    response = world.api.http.post(
        f"/api/v1/submissions/{sub_id}/transitions",
        json={"to": "submitted"},
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert response.status_code == 403
    assert "write" in response.json()["error"]["message"]
    listed = world.api.http.get(
        f"/api/v1/submissions/{sub_id}", headers={"Authorization": f"Bearer {read_only}"}
    ).json()
    assert listed["allowed_transitions"] == []
    assert world.get(f"/submissions/{sub_id}", world.submitter).json()["allowed_transitions"] == [
        "submitted",
        "withdrawn",
    ]


def test_concurrent_moves_of_one_submission_do_not_both_win(world: World) -> None:
    import threading

    from predeploy.errors import Conflict

    sub_id = _reach(world, world.model()["id"], State.SUBMITTED)
    evaluator = world.actor(world.evaluator)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def accept() -> None:
        barrier.wait()
        try:
            with world.api.runtime.unit(evaluator) as ctx:
                service.transition(ctx, sub_id, State.ACCEPTED, "race")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=accept) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    history = world.get(f"/submissions/{sub_id}", world.submitter).json()["history"]
    assert [h["to_state"] for h in history] == ["draft", "submitted", "accepted"]
