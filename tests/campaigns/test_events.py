"""The campaign progress stream (Server-Sent Events): who may follow it, what it sends, and when."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from predeploy.campaigns import transcripts, transcripts_api
from tests.campaigns.conftest import Lab
from tests.campaigns.test_transcripts import mount_transcripts, queued_campaign
from tests.conftest import Caller

Event = tuple[str, Any]  # ("progress" | "end", decoded data), or (":", comment text)


@pytest.fixture
def lab(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    mount_transcripts(lab.world.api.http.app)  # type: ignore[arg-type]
    monkeypatch.setattr(transcripts_api, "POLL_SECONDS", 0.02)
    return lab


def _events(lines: Iterator[str]) -> Iterator[Event]:
    name, data = None, []
    for line in lines:
        if line.startswith(":"):
            yield ":", line[1:].strip()
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and name is not None:
            yield name, json.loads("\n".join(data))
            name, data = None, []


@contextmanager
def follow(lab: Lab, campaign_id: str, caller: Caller, **params: Any) -> Iterator[Iterator[Event]]:
    """The campaign's event stream as `caller`, event by event as the server sends them."""
    with lab.world.api.http.stream(
        "GET", f"/api/v1/campaigns/{campaign_id}/events", params=params, headers=caller.headers
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        yield _events(response.iter_lines())


def cancel(lab: Lab, campaign_id: str) -> None:
    response = lab.world.post(f"/campaigns/{campaign_id}/cancel", lab.evaluator, {"reason": "x"})
    assert response.status_code == 200, response.text


def test_a_finished_campaign_sends_its_state_and_ends(lab: Lab) -> None:
    campaign = queued_campaign(lab)
    cancel(lab, campaign["id"])
    with follow(lab, campaign["id"], lab.evaluator) as events:
        assert list(events) == [
            ("progress", lab.campaign(campaign["id"])),
            ("end", {"state": "cancelled", "reason": "x"}),
        ]


def test_changes_are_sent_as_they_happen_and_only_then(lab: Lab) -> None:
    campaign = queued_campaign(lab)
    with follow(lab, campaign["id"], lab.evaluator) as events:
        kind, first = next(events)
        assert (kind, first["state"]) == ("progress", "queued")
        # Other requests are served while the stream is open (it never holds the event loop).
        cancel(lab, campaign["id"])
        rest = list(events)
    # Polls that found nothing new sent nothing (keep-alives come only after 15 s of silence).
    assert [kind for kind, _ in rest] == ["progress", "end"]
    assert rest[0][1] == lab.campaign(campaign["id"]) and rest[0][1]["state"] == "cancelled"


def test_a_quiet_stream_sends_keep_alives_and_stops_at_its_maximum_duration(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transcripts_api, "HEARTBEAT_SECONDS", 0.0)
    campaign = queued_campaign(lab)
    with follow(lab, campaign["id"], lab.evaluator, max_seconds=0.3) as events:
        received = list(events)  # returns: the stream ended although the campaign did not
    assert received[0][0] == "progress"
    assert received[1:] and set(received[1:]) == {(":", "keep-alive")}
    assert lab.campaign(campaign["id"])["state"] == "queued"
    too_long = lab.world.get(f"/campaigns/{campaign['id']}/events", lab.evaluator, max_seconds=0)
    assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "max_seconds"


def test_the_developer_follows_its_own_campaign_and_nobody_else_sees_it(lab: Lab) -> None:
    world = lab.world
    campaign = queued_campaign(lab)
    cancel(lab, campaign["id"])
    for caller in (world.submitter, world.dev_viewer):
        with follow(lab, campaign["id"], caller) as events:
            (kind, progress), end = list(events)
        assert (kind, end[0]) == ("progress", "end")
        assert progress["state"] == "cancelled" and progress["seeds"] == {}
        assert progress == lab.campaign(campaign["id"], caller)
    for caller in (world.other_submitter, world.vendor, world.analyst):
        response = world.get(f"/campaigns/{campaign['id']}/events", caller)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
    anonymous = world.api.http.get(f"/api/v1/campaigns/{campaign['id']}/events")
    assert anonymous.status_code == 401


def test_a_revoked_token_ends_its_stream(lab: Lab) -> None:
    api = lab.world.api
    evaluator = api.user(api.agency_admin.org_id, "evaluator")
    token_id = lab.world.actor(evaluator).token_id
    campaign = queued_campaign(lab)
    with follow(lab, campaign["id"], evaluator) as events:
        assert next(events)[0] == "progress"
        revoked = api.http.delete(f"/api/v1/tokens/{token_id}", headers=evaluator.headers)
        assert revoked.status_code == 200, revoked.text
        assert list(events) == []  # closed, without `end`: the campaign goes on
    assert lab.campaign(campaign["id"])["state"] == "queued"


def test_a_stream_ends_when_the_database_cannot_be_read(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    campaign = queued_campaign(lab)
    with follow(lab, campaign["id"], lab.evaluator) as events:
        assert next(events)[0] == "progress"
        monkeypatch.setattr(transcripts, "campaign_snapshot", unavailable)
        assert list(events) == []  # closed, without `end`: the client reconnects later


@pytest.mark.slow
def test_a_running_campaign_is_followed_to_its_end(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transcripts_api, "POLL_SECONDS", 0.2)
    campaign = queued_campaign(lab)
    outcomes: list[str] = []
    worker = threading.Thread(target=lambda: outcomes.extend(lab.work()))
    with follow(lab, campaign["id"], lab.world.submitter) as events:
        kind, first = next(events)
        assert (kind, first["state"]) == ("progress", "queued")
        worker.start()
        received = [(kind, first), *events]
    worker.join()
    assert outcomes == ["succeeded"]
    *progress, end = received
    assert end == ("end", {"state": "completed", "reason": ""})
    assert {kind for kind, _ in progress} <= {"progress", ":"}
    updates = [data for kind, data in progress if kind == "progress"]
    states = [update["state"] for update in updates]
    order = ["queued", "running", "completed"]
    assert states == sorted(states, key=order.index) and states[-1] == "completed"
    assert all(a != b for a, b in pairwise(updates))
    last = updates[-1]["progress"]
    assert (last["jobs_done"], last["samples_done"], last["fraction_done"]) == (1, 1, 1.0)
    assert updates[-1] == lab.campaign(campaign["id"], lab.world.submitter)
