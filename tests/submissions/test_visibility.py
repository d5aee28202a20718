"""Who sees and changes what: every model and submission route, for every kind of caller.

A developer sees only its own organisation's models and submissions (another org's ids answer
404, never 403); agency admins and evaluators see all; everyone else sees none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Caller
from tests.submissions.conftest import World

ROLES = ["submitter", "dev_admin", "dev_viewer", "other_submitter", "vendor", "evaluator",
         "agency_admin", "analyst"]  # fmt: skip

SEES_ALL = {"evaluator", "agency_admin"}
SEES_OWN = {"submitter", "dev_admin", "dev_viewer"}
DEV_WRITERS = {"submitter", "dev_admin"}


def _caller(world: World, role: str) -> Caller:
    return getattr(world, role)  # type: ignore[no-any-return]


def _read_status(role: str) -> int:
    return 200 if role in SEES_ALL | SEES_OWN else 404


def _write_status(role: str, ok: int) -> int:
    if role in DEV_WRITERS:
        return ok
    if role in SEES_ALL or role == "dev_viewer":
        return 403  # may see it, may not change it
    return 404


Route = Callable[[World, Caller, dict[str, Any]], Any]


def _attach(world: World, caller: Caller, sub: dict[str, Any]) -> Any:
    return world.api.http.post(
        f"/api/v1/submissions/{sub['id']}/attachments",
        params={"kind": "model_card", "filename": "card.md"},
        content=b"# card",
        headers={**caller.headers, "Content-Type": "text/markdown"},
    )


ROUTES: dict[str, tuple[Route, Callable[[str], int]]] = {
    "GET /models/{id}": (
        lambda w, c, s: w.get(f"/models/{s['model_id']}", c),
        _read_status,
    ),
    "GET /submissions/{id}": (
        lambda w, c, s: w.get(f"/submissions/{s['id']}", c),
        _read_status,
    ),
    "GET attachment content": (
        lambda w, c, s: w.api.http.get(
            f"/api/v1/submissions/{s['id']}/attachments/{s['attachment_id']}/content",
            headers=c.headers,
        ),
        _read_status,
    ),
    "PATCH /submissions/{id}": (
        lambda w, c, s: w.patch(f"/submissions/{s['id']}", c, {"declared_safeguards": ["x"]}),
        lambda role: _write_status(role, 200),
    ),
    "POST /submissions/{id}/transitions": (
        lambda w, c, s: w.move(s["id"], "submitted", c),
        lambda role: _write_status(role, 200),
    ),
    "POST /submissions/{id}/attachments": (
        _attach,
        lambda role: _write_status(role, 201),
    ),
    "POST /submissions (with that model)": (
        lambda w, c, s: w.post("/submissions", c, w.submission_body(s["model_id"])),
        lambda role: _write_status(role, 201),
    ),
}


@pytest.fixture
def target(world: World) -> dict[str, Any]:
    """An Acme submission with one attachment; its id and its model's id."""
    sub = world.submission()
    attachment = _attach(world, world.submitter, sub).json()
    return {**sub, "attachment_id": attachment["id"]}


def test_object_routes(world: World, target: dict[str, Any]) -> None:
    for role in ROLES:
        caller = _caller(world, role)
        for name, (call, expected) in ROUTES.items():
            # Writes change state: each one gets a fresh submission of the same model.
            fresh = target if name.startswith("GET") else {**target, **_fresh(world, target)}
            response = call(world, caller, fresh)
            assert response.status_code == expected(role), (name, role, response.text)
            if response.status_code == 404:
                assert response.json()["error"]["code"] == "not_found"


def _fresh(world: World, target: dict[str, Any]) -> dict[str, Any]:
    return {"id": world.submission(model_id=target["model_id"])["id"]}


def test_lists(world: World, target: dict[str, Any]) -> None:
    theirs = world.submission(world.other_submitter)
    world.move(target["id"], "submitted", world.submitter)
    world.move(theirs["id"], "submitted", world.other_submitter)
    for role in ROLES:
        _check_lists(world, role, target, theirs)


def _check_lists(world: World, role: str, target: dict[str, Any], theirs: dict[str, Any]) -> None:
    caller = _caller(world, role)
    expected_subs = {
        **{key: {target["id"], theirs["id"]} for key in SEES_ALL},
        **{key: {target["id"]} for key in SEES_OWN},
        "other_submitter": {theirs["id"]},
    }.get(role, set())
    for path in ("/submissions", "/submissions/due"):
        body = world.get(path, caller).json()
        items = body["items"] if isinstance(body, dict) else body
        assert {s["id"] for s in items} == expected_subs, (path, role)
    models = {m["id"] for m in world.get("/models", caller).json()["items"]}
    expected_models = {
        {target["id"]: target["model_id"], theirs["id"]: theirs["model_id"]}[s]
        for s in expected_subs
    }
    assert models == expected_models, role
    # Filtering by another org never widens what a caller sees.
    filtered = world.get("/submissions", caller, org=world.other).json()["items"]
    assert {s["id"] for s in filtered} == expected_subs & {theirs["id"]}


def test_registering_models(world: World) -> None:
    for role in ROLES:
        body = {"name": f"m-{role}", "version": "1"}
        response = world.post("/models", _caller(world, role), body)
        expected = 201 if role in DEV_WRITERS | {"other_submitter"} else 403
        assert response.status_code == expected, (role, response.text)
        if expected == 201:
            assert response.json()["org_id"] == _caller(world, role).org_id


def test_every_write_needs_the_write_scope(world: World, target: dict[str, Any]) -> None:
    issued = world.api.http.post(
        "/api/v1/tokens", json={"scopes": ["read"]}, headers=world.submitter.headers
    )
    reader = Caller(issued.json()["token"], world.submitter.user_id, world.acme)
    assert world.post("/models", reader, {"name": "r", "version": "1"}).status_code == 403
    for name, (call, _) in ROUTES.items():
        response = call(world, reader, target)
        expected = 200 if name.startswith("GET") else 403
        assert response.status_code == expected, (name, response.text)
        if expected == 403:
            assert "'write' scope" in response.json()["error"]["message"], name
