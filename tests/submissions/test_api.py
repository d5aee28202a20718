"""Models and submissions over HTTP: creation, scope, validation, rescheduling, attachments, due."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from predeploy.audit.models import AuditEvent
from predeploy.submissions.models import AccessVariant, AiModel, Submission
from tests.conftest import START
from tests.submissions.conftest import RELEASE, World, iso

DAY = timedelta(days=1)


def _counts(world: World) -> tuple[int, int, int, int]:
    with world.system() as ctx:
        return (
            ctx.session.scalar(select(func.count()).select_from(AiModel)) or 0,
            ctx.session.scalar(select(func.count()).select_from(Submission)) or 0,
            ctx.session.scalar(select(func.count()).select_from(AccessVariant)) or 0,
            ctx.session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


def test_model_registration_scope_and_uniqueness(world: World) -> None:
    big = world.model(name="acme-big", training_flop=3e26, modalities=["text", "image", "text"])
    assert big["in_scope"] is True and "3e+26" in big["scope_reason"]
    assert big["modalities"] == ["image", "text"]
    small = world.model(name="acme-small", training_flop=1e24)
    assert small["in_scope"] is False
    frontier = world.model(name="acme-frontier", training_flop=1e24, declared_frontier=True)
    assert frontier["in_scope"] is True and "frontier" in frontier["scope_reason"]
    digest = "SHA256:" + "AB" * 32
    assert world.model(name="acme-d", weights_digest=digest)["weights_digest"] == digest.lower()

    again = world.post("/models", world.dev_admin, {"name": "acme-big", "version": "2026-11"})
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "version"
    # The same name and version in another org is another model.
    assert world.model(world.other_submitter, name="acme-big")["org_id"] == world.other

    names = {m["name"] for m in world.get("/models", world.submitter).json()["items"]}
    assert names == {"acme-big", "acme-small", "acme-frontier", "acme-d"}
    filtered = world.get("/models", world.submitter, name="acme-big").json()["items"]
    assert [m["id"] for m in filtered] == [big["id"]]


def test_out_of_scope_submission_can_still_be_accepted(world: World) -> None:
    model = world.model(training_flop=1e20)
    sub = world.submission(model_id=model["id"])
    assert sub["in_scope"] is False
    assert world.move(sub["id"], "submitted", world.submitter).status_code == 200
    accepted = world.move(sub["id"], "accepted", world.evaluator)
    assert accepted.status_code == 200
    assert accepted.json()["in_scope"] is False


BAD_MODELS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"name": "m", "version": "1", "weights_digest": "md5:abc"}, 422, "weights_digest", "sha256"),
    ({"name": "m", "version": "1", "training_flop": -5}, 422, "training_flop", ""),
    ({"name": "m", "version": "1", "colour": "red"}, 422, "colour", "unknown field"),
    ({"name": "", "version": "1"}, 422, "name", ""),
    ({"name": "m", "version": "1", "modalities": ["Text!"]}, 422, "modalities.0", ""),
]


def test_bad_model_input_changes_nothing(world: World) -> None:
    before = _counts(world)
    for fields, status, field, words in BAD_MODELS:
        response = world.post("/models", world.submitter, fields)
        assert response.status_code == status, (fields, response.text)
        error = response.json()["error"]
        assert error["field"] == field, fields
        assert words in error["message"], fields
    assert _counts(world) == before


def test_only_developer_writers_register_models(world: World) -> None:
    body = {"name": "x", "version": "1"}
    assert world.post("/models", world.dev_viewer, body).status_code == 403
    assert world.post("/models", world.evaluator, body).status_code == 403
    assert world.post("/models", world.vendor, body).status_code == 403


def test_submission_window_fields(world: World) -> None:
    sub = world.submission()
    assert sub["state"] == "draft"
    assert sub["window_start"] == iso(START)  # access granted now, release in 20 days
    assert sub["report_due_at"] == iso(RELEASE - 2 * DAY)
    assert sub["days_remaining"] == 18.0
    assert sub["window_state"] == "open"
    assert sub["access_expires_at"] == iso(RELEASE)
    assert sub["compressed_window"] is False and sub["warnings"] == []
    assert sub["access_variants"][0]["has_api_key"] is True
    assert "api_key" not in sub["access_variants"][0]

    later = world.submission(
        model_id=sub["model_id"],
        planned_release_at=iso(START + 90 * DAY),
        access_granted_at="2026-12-01T09:00:00+01:00",
    )
    assert later["window_start"] == iso(START + 60 * DAY)
    assert later["window_state"] == "not_started"
    assert later["access_granted_at"] == "2026-12-01T08:00:00Z"


def test_compressed_window_is_accepted_with_a_warning(world: World) -> None:
    sub = world.submission(planned_release_at=iso(START + 6 * DAY))
    assert sub["compressed_window"] is True
    assert sub["warnings"][0].startswith("compressed_window")


BAD_SUBMISSIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"planned_release_at": "2026-12-20T00:00:00"}, "planned_release_at", "timezone"),
    ({"planned_release_at": iso(START - DAY)}, "planned_release_at", "in the past"),
    ({"planned_release_at": iso(START + 400 * DAY)}, "planned_release_at", "365 days"),
    ({"planned_release_at": iso(START + DAY)}, "planned_release_at", "no testing window"),
    ({"access_granted_at": iso(START + 19 * DAY)}, "access_granted_at", "no testing window"),
    ({"access_expires_at": iso(START - DAY)}, "access_expires_at", "in the past"),
    (
        {"access_granted_at": iso(START + 5 * DAY), "access_expires_at": iso(START + 3 * DAY)},
        "access_expires_at",
        "window opens",
    ),
    ({"access_granted_at": "2026-12-01T00:00:00"}, "access_granted_at", "timezone"),
    ({"priority": "high"}, "priority", "unknown field"),
    ({"access_variants": []}, "access_variants", ""),
    (
        {"access_variants": [{"label": "p", "model": "a/b", "surprise": 1}]},
        "access_variants.0.surprise",
        "unknown field",
    ),
    (
        {"access_variants": [{"label": "p", "model": "openai-api/a/b", "base_url": "ftp://x"}]},
        "access_variants.0.base_url",
        "http",
    ),
    (
        {
            "access_variants": [
                {"label": "p", "model": "openai-api/a/b", "base_url": "https://u:p@h.example"}
            ]
        },
        "access_variants.0.base_url",
        "credentials",
    ),
    ({"access_variants": [{"label": "p", "model": "no-slash"}]}, "access_variants.0.model", ""),
    (
        {
            "access_variants": [
                {"label": "p", "model": "openai-api/a/b"},
                {"label": "p", "model": "openai-api/a/c"},
            ]
        },
        "access_variants",
        "unique",
    ),
    ({"model_id": "00000000-0000-0000-0000-000000000000"}, "model_id", "not found"),
]


def test_bad_submission_input_changes_nothing(world: World) -> None:
    model_id = world.model()["id"]
    before = _counts(world)
    for fields, field, words in BAD_SUBMISSIONS:
        body = {**world.submission_body(model_id), **fields}
        response = world.post("/submissions", world.submitter, body)
        expected = 404 if field == "model_id" else 422
        assert response.status_code == expected, (fields, response.text)
        error = response.json()["error"]
        assert error["field"] == field, fields
        assert words in error["message"], fields
    assert _counts(world) == before


def test_another_orgs_model_cannot_be_submitted(world: World) -> None:
    theirs = world.model(world.other_submitter)["id"]
    response = world.post("/submissions", world.submitter, world.submission_body(theirs))
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "model_id"


def test_postponing_recomputes_but_never_closes_an_open_window(world: World) -> None:
    sub = world.submission(planned_release_at=iso(START + 20 * DAY))
    world.api.runtime.clock.advance(5 * DAY)  # type: ignore[attr-defined]
    new_release = START + 80 * DAY
    response = world.patch(
        f"/submissions/{sub['id']}",
        world.submitter,
        {"planned_release_at": iso(new_release), "reason": "launch slipped"},
    )
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["window_start"] == sub["window_start"]  # already open: kept
    assert moved["window_state"] == "open"
    assert moved["report_due_at"] == iso(new_release - 2 * DAY)
    assert moved["planned_release_at"] == iso(new_release)
    # Access still ends at the old release, before the new deadline: said, not hidden.
    assert any(w.startswith("access_expires_before_report") for w in moved["warnings"])
    with world.system() as ctx:
        detail = ctx.session.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.object_id == sub["id"], AuditEvent.action == "submission.update"
            )
        ).one()
    assert detail["changes"]["report_due_at"]["to"] == iso(new_release - 2 * DAY).replace(
        "Z", "+00:00"
    )


def test_postponing_a_window_not_yet_open_moves_its_start(world: World) -> None:
    sub = world.submission(
        planned_release_at=iso(START + 60 * DAY), access_expires_at=iso(START + 200 * DAY)
    )
    assert sub["window_state"] == "not_started"
    moved = world.patch(
        f"/submissions/{sub['id']}", world.submitter, {"planned_release_at": iso(START + 90 * DAY)}
    ).json()
    assert moved["window_start"] == iso(START + 60 * DAY)
    assert moved["warnings"] == []


BAD_UPDATES: list[tuple[dict[str, Any], int, str | None]] = [
    ({"planned_release_at": iso(START - DAY)}, 422, "planned_release_at"),
    ({"planned_release_at": "2027-01-01T00:00:00"}, 422, "planned_release_at"),
    ({"planned_release_at": None}, 422, "planned_release_at"),
    ({"state": "accepted"}, 422, "state"),
    ({}, 422, None),
    ({"access_expires_at": iso(START - DAY)}, 422, "access_expires_at"),
    ({"contacts": [{"name": "x", "email": "not-an-email"}]}, 422, "contacts.0.email"),
]


def test_bad_updates_change_nothing(world: World) -> None:
    sub = world.submission()
    before = _counts(world)
    for body, status, field in BAD_UPDATES:
        response = world.patch(f"/submissions/{sub['id']}", world.submitter, body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field, body
    after = world.get(f"/submissions/{sub['id']}", world.submitter).json()
    assert after == sub
    assert _counts(world) == before


def test_only_the_developer_reschedules_and_not_after_the_end(world: World) -> None:
    sub = world.submission()
    body = {"planned_release_at": iso(START + 40 * DAY)}
    assert world.patch(f"/submissions/{sub['id']}", world.evaluator, body).status_code == 403
    assert world.patch(f"/submissions/{sub['id']}", world.dev_viewer, body).status_code == 403
    world.move(sub["id"], "withdrawn", world.submitter)
    ended = world.patch(f"/submissions/{sub['id']}", world.dev_admin, body)
    assert ended.status_code == 409


def test_attachments_round_trip_and_size_limit(world: World) -> None:
    sub = world.submission()
    card = b"# Acme M1 model card\n\nEvaluations: ...\n"
    url = f"/api/v1/submissions/{sub['id']}/attachments"
    response = world.api.http.post(
        url,
        params={"kind": "model_card", "filename": "../../etc/card.md"},
        content=card,
        headers={**world.submitter.headers, "Content-Type": "text/markdown; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    meta = response.json()
    assert meta["sha256"] == hashlib.sha256(card).hexdigest()
    assert meta["filename"] == "card.md"
    assert meta["media_type"] == "text/markdown"
    shown = world.get(f"/submissions/{sub['id']}", world.evaluator).json()
    assert shown["attachments"] == [meta]
    content = world.api.http.get(f"{url}/{meta['id']}/content", headers=world.evaluator.headers)
    assert content.content == card
    assert content.headers["content-type"].startswith("text/markdown")
    assert content.headers["x-content-type-options"] == "nosniff"

    limit = world.api.runtime.settings.max_attachment_bytes
    big = world.api.http.post(
        url,
        params={"kind": "system_card", "filename": "big.pdf"},
        content=b"%PDF" + b"0" * limit,
        headers={**world.submitter.headers, "Content-Type": "application/pdf"},
    )
    assert big.status_code == 413
    html = world.api.http.post(
        url,
        params={"kind": "other", "filename": "x.html"},
        content=b"<script>alert(1)</script>",
        headers={**world.submitter.headers, "Content-Type": "text/html"},
    )
    assert html.status_code == 422 and html.json()["error"]["field"] == "media_type"
    by_agency = world.api.http.post(
        url,
        params={"kind": "other", "filename": "n.txt"},
        content=b"note",
        headers={**world.evaluator.headers, "Content-Type": "text/plain"},
    )
    assert by_agency.status_code == 403
    after = world.get(f"/submissions/{sub['id']}", world.submitter).json()
    assert [a["id"] for a in after["attachments"]] == [meta["id"]]


def test_due_lists_open_submissions_by_time_left(world: World) -> None:
    model_id = world.model()["id"]
    far = world.submission(model_id=model_id, planned_release_at=iso(START + 25 * DAY))
    near = world.submission(model_id=model_id, planned_release_at=iso(START + 10 * DAY))
    draft = world.submission(model_id=model_id, planned_release_at=iso(START + 5 * DAY))
    gone = world.submission(model_id=model_id, planned_release_at=iso(START + 4 * DAY))
    for sub in (far, near, gone):
        world.move(sub["id"], "submitted", world.submitter)
    world.move(gone["id"], "withdrawn", world.submitter)
    due = world.get("/submissions/due", world.evaluator).json()
    assert [s["id"] for s in due] == [near["id"], far["id"]]
    assert due[0]["days_remaining"] == 8.0
    assert draft["id"] not in {s["id"] for s in due}
    # Overdue submissions stay on the list, first, with negative time left.
    world.api.runtime.clock.advance(9 * DAY)  # type: ignore[attr-defined]
    due = world.get("/submissions/due", world.evaluator).json()
    assert due[0]["id"] == near["id"] and due[0]["days_remaining"] == -1.0
    assert due[0]["window_state"] == "closed"


def test_lists_paginate_and_filter(world: World) -> None:
    model_id = world.model()["id"]
    ids = [world.submission(model_id=model_id)["id"] for _ in range(5)]
    world.move(ids[0], "submitted", world.submitter)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = world.get("/submissions", world.evaluator, **params).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    submitted = world.get("/submissions", world.evaluator, state="submitted").json()["items"]
    assert [s["id"] for s in submitted] == [ids[0]]
    by_org = world.get("/submissions", world.evaluator, org=world.other).json()["items"]
    assert by_org == []
    bad = world.get("/submissions", world.evaluator, state="launched")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "state"


@pytest.mark.parametrize("limit", ["0", "501", "-3", "ten"])
def test_a_limit_out_of_bounds_is_refused_naming_it(world: World, limit: str) -> None:
    for path in ("/submissions", "/models", "/submissions/due"):
        refused = world.get(path, world.evaluator, limit=limit)
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["error"]["field"] == "limit", (path, refused.text)


def test_the_schema_declares_the_bounds_of_every_list_limit(world: World) -> None:
    schema = world.api.http.get("/api/openapi.json").json()
    limits = [
        (path, parameter["schema"])
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "limit"
        and parameter["in"] == "query"
        # TAXII reads its limit itself: a larger one is served as its maximum, as TAXII allows.
        and not path.startswith("/taxii2/")
    ]
    assert len(limits) >= 10
    for path, bounds in limits:
        assert bounds.get("minimum") == 1 and bounds.get("maximum"), path
