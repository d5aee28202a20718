"""Test plans: import, versions, de-duplication, export, validation, visibility, estimates."""

from __future__ import annotations

import copy
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from fastapi import FastAPI
from httpx2 import Response
from starlette.routing import NoMatchFound

from predeploy.accounts import Actor
from predeploy.campaigns import plans
from predeploy.campaigns._runner import sandbox_of
from predeploy.campaigns.models import Campaign
from predeploy.campaigns.plans_api import router
from predeploy.campaigns.schemas import PlanDocument
from predeploy.errors import InvalidInput, NotFound
from predeploy.runtime import Runtime
from tests.conftest import START, Api, Caller

PLAN: dict[str, Any] = {
    "name": "cyber-default",
    "description": "Every family at every level.",
    "estimated_duration": "6h",
    "elicitation": {"system_prompt": "You are being tested.\nBe thorough.\n", "attempts": 2},
    "reference_models": [
        {"label": "previous", "model": "openai-api/acme/m0", "api_key_env": "ACME_M0_KEY"}
    ],
    "items": [
        {
            "task": "predeploy/cyber_suite",
            "task_args": {"families": ["crypto"], "levels": [1, 2, 3], "instances": 2},
            "epochs": 2,
            "limits": {"messages": 80, "time": 1800},
            "sandbox": "bwrap",
        },
        {
            "task": "predeploy/cyber_web",
            "task_args": {"levels": [1], "guided": None},
            "variant": "reduced-safeguards",
            "compare": False,
        },
    ],
}


def mount_plans(app: FastAPI) -> None:
    """Serve the plan routes, unless `predeploy.api` already does."""
    try:
        app.url_path_for("import_plan")
    except NoMatchFound:
        app.include_router(router)
        app.openapi_schema = None


@pytest.fixture
def plans_api(api: Api) -> Api:
    mount_plans(api.http.app)  # type: ignore[arg-type]
    return api


def plan(**changes: Any) -> dict[str, Any]:
    """The example plan with top-level fields replaced."""
    return {**copy.deepcopy(PLAN), **changes}


def with_item(changes: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The example plan with fields of one item replaced."""
    data = plan()
    data["items"][index].update(changes)
    return data


def as_yaml(data: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(data, sort_keys=False)
    return text


def post_yaml(
    api: Api, caller: Caller, source: str | bytes, media_type: str = "application/yaml"
) -> Response:
    body = source.encode() if isinstance(source, str) else source
    headers = {**caller.headers, "Content-Type": media_type}
    return api.http.post("/api/v1/plans", content=body, headers=headers)


def get(api: Api, caller: Caller, path: str) -> Response:
    return api.http.get(f"/api/v1{path}", headers=caller.headers)


def ok(response: Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def imported_events(api: Api) -> list[dict[str, Any]]:
    page = ok(get(api, api.agency_admin, "/audit?action=plan.imported&limit=500"))
    return sorted(page["items"], key=lambda event: event["seq"])


# --- import, versions, de-duplication ----------------------------------------------------------


def test_import_makes_versions_and_recognises_the_same_content(plans_api: Api) -> None:
    api, admin = plans_api, plans_api.agency_admin
    first = ok(post_yaml(api, admin, as_yaml(PLAN)), 201)
    assert (first["name"], first["version"], first["created"]) == ("cyber-default", 1, True)
    assert first["items"] == 2
    assert first["declared_duration_seconds"] == 6 * 3600
    assert first["estimated_duration_seconds"] == 6 * 3600
    assert first["estimate_source"] == "declared"
    assert first["document"]["items"][1]["variant"] == "reduced-safeguards"

    again = ok(post_yaml(api, admin, as_yaml(PLAN)))
    assert (again["id"], again["version"], again["created"]) == (first["id"], 1, False)
    # The same plan as JSON (its duration in seconds) is the same document.
    as_json = api.http.post(
        "/api/v1/plans", json=plan(estimated_duration=21600), headers=admin.headers
    )
    assert ok(as_json)["id"] == first["id"]

    second = ok(post_yaml(api, admin, as_yaml(with_item({"epochs": 3}))), 201)
    assert (second["version"], second["created"]) == (2, True)
    assert second["digest"] != first["digest"]
    # Only the latest version counts: going back to the first content is a new version.
    third = ok(post_yaml(api, admin, as_yaml(PLAN)), 201)
    assert (third["version"], third["digest"]) == (3, first["digest"])

    events = imported_events(api)
    assert [e["detail"] for e in events] == [
        {"name": "cyber-default", "version": v, "digest": d}
        for v, d in ((1, first["digest"]), (2, second["digest"]), (3, first["digest"]))
    ]
    assert [e["object"]["id"] for e in events] == [first["id"], second["id"], third["id"]]


def test_plans_are_found_by_name_version_or_id(plans_api: Api) -> None:
    api, admin = plans_api, plans_api.agency_admin
    v1 = ok(post_yaml(api, admin, as_yaml(PLAN)), 201)
    v2 = ok(post_yaml(api, admin, as_yaml(with_item({"epochs": 5}))), 201)
    other = ok(post_yaml(api, admin, as_yaml(plan(name="baseline"))), 201)

    assert ok(get(api, admin, "/plans/cyber-default"))["id"] == v2["id"]
    assert ok(get(api, admin, "/plans/cyber-default@1"))["id"] == v1["id"]
    assert ok(get(api, admin, f"/plans/{v1['id']}"))["version"] == 1
    listed = ok(get(api, admin, "/plans"))
    assert [(p["name"], p["version"]) for p in listed] == [("baseline", 1), ("cyber-default", 2)]
    assert listed[0]["id"] == other["id"]
    history = ok(get(api, admin, "/plans/cyber-default/versions"))
    assert [p["id"] for p in history] == [v1["id"], v2["id"]]

    missing = get(api, admin, "/plans/cyber-default@7")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": "plan 'cyber-default' has no version 7 (latest: 2)",
        "field": "plan",
    }
    assert get(api, admin, "/plans/nothing-here").status_code == 404
    bad = get(api, admin, "/plans/cyber-default@latest")
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "plan")


def test_evaluators_manage_plans_too(plans_api: Api) -> None:
    evaluator = plans_api.user(plans_api.agency_admin.org_id, "evaluator")
    created = ok(post_yaml(plans_api, evaluator, as_yaml(PLAN)), 201)
    assert [p["id"] for p in ok(get(plans_api, evaluator, "/plans"))] == [created["id"]]
    exported = get(plans_api, evaluator, "/plans/cyber-default/export")
    assert exported.status_code == 200
    assert exported.text.startswith("name: cyber-default\n")


# --- export ------------------------------------------------------------------------------------


def test_export_is_readable_yaml_that_imports_back_unchanged(plans_api: Api) -> None:
    api, admin = plans_api, plans_api.agency_admin
    stored = ok(post_yaml(api, admin, as_yaml(PLAN)), 201)
    exported = get(api, admin, "/plans/cyber-default@1/export")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/yaml"
    assert 'filename="cyber-default-v1.yaml"' in exported.headers["content-disposition"]
    text = exported.text
    assert "estimated_duration: 6h\n" in text
    assert "system_prompt: |\n    You are being tested.\n    Be thorough.\n" in text
    assert "levels: [1, 2, 3]" in text
    assert "guided: null" in text  # a null task argument is kept: it is not a default

    again = ok(post_yaml(api, admin, text))
    assert (again["created"], again["id"], again["digest"]) == (
        False,
        stored["id"],
        stored["digest"],
    )
    assert len(imported_events(api)) == 1
    assert PlanDocument.model_validate(yaml.safe_load(text)) == PlanDocument.model_validate(
        stored["document"]
    )


def test_export_keeps_durations_that_are_not_whole_units() -> None:
    for seconds in (5400, 90061, 12.5):
        document = PlanDocument.model_validate(plan(estimated_duration=seconds))
        back = plans.load_plan_yaml(plans.dump_plan_yaml(document))
        assert back.estimated_duration == seconds


# --- validation --------------------------------------------------------------------------------

INVALID_FIELDS = [
    (as_yaml(with_item({"epochs": 0})), "items.0.epochs",
     "items.0.epochs: Input should be greater than or equal to 1"),
    (as_yaml(with_item({"sandboxx": "bwrap"}, 1)), "items.1.sandboxx",
     "items.1.sandboxx: unknown field"),
    (as_yaml(with_item({"sandbox": "podman"})), "items.0.sandbox",
     "items.0.sandbox: Input should be 'bwrap', 'local', 'docker' or 'k8s'"),
    (as_yaml(with_item({"sandbox": None, "sandbox_config": "values.yaml"})), "items.0",
     "items.0: sandbox_config needs sandbox (the sandbox type it configures)"),
    (as_yaml(plan(identity_probes="pd-probes-99")), "identity_probes",
     "identity_probes: unknown probe set 'pd-probes-99'"),
    (as_yaml(with_item({"task": "predeploy/x; rm -rf /"})), "items.0.task",
     "items.0.task: String should match pattern"),
    (as_yaml(with_item({"task_args": {"bad-name": 1}})), "items.0.task_args",
     "items.0.task_args: task argument name 'bad-name' is not a valid identifier"),
    (as_yaml(plan(estimated_duration="soon")), "estimated_duration",
     "estimated_duration: a duration is a number of seconds"),
    (as_yaml({k: v for k, v in PLAN.items() if k != "name"}), "name", "name: Field required"),
    (as_yaml(plan(items=[])), "items", "items: List should have at least 1 item"),
    (as_yaml(plan(reference_models=[{"label": "-x", "model": "openai/gpt"}])),
     "reference_models.0.label", "reference_models.0.label: String should match pattern"),
    (as_yaml(with_item({"limits": {"cost": 0}})), "items.0.limits.cost",
     "items.0.limits.cost: Input should be greater than 0"),
    (as_yaml(PLAN).replace("instances: 2", "instances: .nan"),
     "items.0.task_args.instances", "items.0.task_args.instances: nan is not a finite number"),
    (as_yaml(PLAN).replace("time: 1800", "time: 1800\n    cost: .inf"),
     "items.0.limits.cost", "items.0.limits.cost: inf is not a finite number"),
    (as_yaml(plan(prices={"production": {"input": -1, "output": 15}})),
     "prices.production.input", "prices.production.input: Input should be greater than or equal to 0"),
    (as_yaml(plan(prices={"production": {"input": 1, "outptu": 15}})),
     "prices.production.output", "prices.production.output: Field required"),
    (as_yaml(plan(prices={"-x": {"input": 1, "output": 2}})),
     "prices", "prices: '-x' is not a variant or reference-model label"),
    (as_yaml(PLAN).replace("instances: 2", "instances: 2\n    when: 2026-12-01"),
     "items.0.task_args.when", "items.0.task_args.when: a date is not plain data"),
]  # fmt: skip

ALIAS_BOMB = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
)
INVALID_DOCUMENTS = [
    ("name: [cyber\n", "the plan is not valid YAML (line 2, column 1)"),
    ("- task: predeploy/cyber_suite\n", "a plan is a mapping"),
    ("", "the plan is empty"),
    ("# nothing but a comment\n", "the plan is empty"),
    (ALIAS_BOMB, "the plan has more than 200000 values"),
    ("{1: cyber}\n", "the key 1 is not text"),
]


@pytest.mark.parametrize(("source", "field", "message"), INVALID_FIELDS)
def test_a_bad_field_is_named(source: str, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        plans.load_plan_yaml(source)
    assert raised.value.field == field
    assert raised.value.message.startswith(message), raised.value.message


@pytest.mark.parametrize(("source", "message"), INVALID_DOCUMENTS)
def test_a_bad_document_is_explained(source: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        plans.load_plan_yaml(source)
    assert raised.value.message.startswith(message), raised.value.message


def test_an_oversized_plan_is_refused_before_parsing() -> None:
    source = "name: x\n" + "# padding\n" * (plans.MAX_PLAN_BYTES // 10)
    with pytest.raises(InvalidInput, match=r"at most 1048576 \(1 MiB\)"):
        plans.load_plan_yaml(source)


def test_invalid_plans_answer_422_and_store_nothing(plans_api: Api) -> None:
    api, admin = plans_api, plans_api.agency_admin
    for source, field, message in INVALID_FIELDS:
        response = post_yaml(api, admin, source, media_type="text/yaml")
        assert response.status_code == 422, (field, response.text)
        error = response.json()["error"]
        assert error["field"] == field
        assert error["message"].startswith(message), error
    for source, message in INVALID_DOCUMENTS:
        response = post_yaml(api, admin, source)
        assert response.status_code == 422, (message, response.text)
        assert response.json()["error"]["message"].startswith(message)
    json_cases: list[tuple[bytes, str, str | None, str]] = [
        (b'{"name": "x",', "application/json", None, "the plan is not valid JSON"),
        (b"[1, 2]", "application/json", None, "a plan is a mapping"),
        (
            b'{"name": "x", "estimated_duration": 60, "items": [{"task": "a/b", "epochs": -1}]}',
            "application/json; charset=utf-8",
            "items.0.epochs",
            "items.0.epochs: Input should be greater than or equal to 1",
        ),
        (
            b'{"name": "x", "estimated_duration": 60, "items": [{"task": "a/b",'
            b' "task_args": {"k": NaN}}]}',
            "application/json",
            "items.0.task_args.k",
            "items.0.task_args.k: nan is not a finite number",
        ),
        (as_yaml(PLAN).encode(), "text/plain", "content-type", "send the plan as"),
        (b"name: \xff\xfe", "application/yaml", None, "the plan is not UTF-8 text"),
    ]
    for body, media_type, named, message in json_cases:
        response = post_yaml(api, admin, body, media_type=media_type)
        assert response.status_code == 422, (message, response.text)
        assert response.json()["error"]["field"] == named
        assert response.json()["error"]["message"].startswith(message)
    too_large = post_yaml(api, admin, "# padding\n" * (plans.MAX_PLAN_BYTES // 10 + 1))
    assert too_large.status_code == 413
    assert ok(get(api, admin, "/plans")) == []
    assert imported_events(api) == []


def test_the_import_route_documents_json_and_yaml(plans_api: Api) -> None:
    schema = ok(plans_api.http.get("/api/openapi.json"))
    body = schema["paths"]["/api/v1/plans"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/yaml", "text/yaml"} <= set(body)
    as_json = body["application/json"]["schema"]
    assert "$ref" not in str(as_json)  # every nested model is written out in place
    assert as_json["properties"]["items"]["items"]["properties"]["sandbox"]
    assert body["application/yaml"]["schema"] == {"type": "string"}
    plans.load_plan_yaml(body["application/yaml"]["example"])


# --- who may -----------------------------------------------------------------------------------


def test_only_agency_staff_see_plans(plans_api: Api) -> None:
    api, admin = plans_api, plans_api.agency_admin
    stored = ok(post_yaml(api, admin, as_yaml(PLAN)), 201)
    developer = api.org("Acme AI", "developer", "vendor")
    agency = admin.org_id
    outsiders = {
        "submitter": api.user(developer, "submitter"),
        "developer admin": api.user(developer, "admin"),
        "vendor": api.user(api.org("Vendor Co", "vendor"), "member"),
        "agency analyst": api.user(agency, "analyst"),
        "agency viewer": api.user(agency, "viewer"),
    }
    for who, caller in outsiders.items():
        listed = get(api, caller, "/plans")
        assert listed.status_code == 403, who
        assert "cyber-default" not in listed.text
        for path in ("/plans/{}", "/plans/{}/export", "/plans/{}/versions"):
            for ref in ("cyber-default", "cyber-default@1", stored["id"]):
                if "versions" in path and ref != "cyber-default":
                    continue
                response = get(api, caller, path.format(ref))
                twin = get(api, caller, path.format("no-such-plan"))
                assert response.status_code == 404, (who, path, ref)
                # Indistinguishable from a plan that does not exist.
                assert response.text.replace(ref, "<ref>") == twin.text.replace(
                    "no-such-plan", "<ref>"
                )
        refused = post_yaml(api, caller, as_yaml(with_item({"epochs": 9})))
        assert refused.status_code == 403, who
    assert [p["version"] for p in ok(get(api, admin, "/plans"))] == [1]
    assert len(imported_events(api)) == 1


def test_a_read_only_token_cannot_import(plans_api: Api) -> None:
    api, admin = plans_api, plans_api.agency_admin
    token = ok(
        api.http.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=admin.headers), 201
    )
    reader = Caller(token["token"], admin.user_id, admin.org_id)
    refused = post_yaml(api, reader, as_yaml(PLAN))
    assert refused.status_code == 403
    assert "'write' scope" in refused.json()["error"]["message"]
    assert ok(get(api, reader, "/plans")) == []


# --- concurrency -------------------------------------------------------------------------------

IMPORTERS = 8


def test_concurrent_imports_of_one_name_get_distinct_versions(runtime: Runtime) -> None:
    start = threading.Barrier(IMPORTERS)
    failures: list[BaseException] = []
    versions: list[int] = []

    def run(n: int) -> None:
        document = PlanDocument.model_validate(with_item({"epochs": n + 1}))
        try:
            start.wait()
            with runtime.unit(Actor.system(f"importer {n}")) as ctx:
                versions.append(plans.import_plan(ctx, document).version)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(IMPORTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert sorted(versions) == list(range(1, IMPORTERS + 1))


# --- references and estimates ------------------------------------------------------------------


def test_references_are_checked(runtime: Runtime) -> None:
    with runtime.unit(Actor.system("test")) as ctx:
        plans.import_plan(ctx, PlanDocument.model_validate(PLAN))
        assert plans.get_plan(ctx, "cyber-default@1").version == 1
        with pytest.raises(NotFound, match="has no version 2"):
            plans.get_plan(ctx, "cyber-default@2")
        with pytest.raises(NotFound, match="'other@1' not found"):
            plans.get_plan(ctx, "other@1")
        with pytest.raises(InvalidInput, match="NAME@VERSION"):
            plans.get_plan(ctx, "cyber-default@")
        with pytest.raises(NotFound):
            plans.versions(ctx, "other")


def _submission(api: Api) -> str:
    """A submission of a fresh developer org, made through the API (campaigns need one)."""
    org = api.org("Acme AI", "developer")
    submitter = api.user(org, "submitter")
    model = ok(
        api.http.post(
            "/api/v1/models", json={"name": "acme-m1", "version": "1"}, headers=submitter.headers
        ),
        201,
    )
    body = {
        "model_id": model["id"],
        "planned_release_at": (START + timedelta(days=20)).isoformat(),
        "access_variants": [{"label": "production", "model": "openai-api/acme/m1"}],
    }
    sub = api.http.post("/api/v1/submissions", json=body, headers=submitter.headers)
    return str(ok(sub, 201)["id"])


def _campaigns(
    runtime: Runtime, submission_id: str, plan_id: str, runs: list[tuple[str, float | None]]
) -> None:
    """Campaigns of a plan, in order of finishing: (state, hours from start to finish)."""
    with runtime.transaction() as session:
        for n, (state, hours) in enumerate(runs):
            started = START + timedelta(days=n)
            session.add(
                Campaign(
                    submission_id=submission_id,
                    plan_id=plan_id,
                    state=state,
                    seeds={},
                    estimated_seconds=0,
                    estimate_source="declared",
                    log_root=f"/tmp/logs/{n}",
                    created_at=started,
                    updated_at=started,
                    started_at=started,
                    finished_at=None if hours is None else started + timedelta(hours=hours),
                )
            )


def test_the_estimate_is_learned_from_the_latest_completed_runs(plans_api: Api) -> None:
    api, admin, runtime = plans_api, plans_api.agency_admin, plans_api.runtime
    v1 = ok(post_yaml(api, admin, as_yaml(PLAN)), 201)
    v2 = ok(post_yaml(api, admin, as_yaml(with_item({"epochs": 4}))), 201)
    ok(post_yaml(api, admin, as_yaml(plan(name="untried", estimated_duration="90m"))), 201)
    submission_id = _submission(api)
    # Six completed runs of version 1: the oldest (10 h) is beyond the last five (1-5 h).
    _campaigns(
        runtime,
        submission_id,
        v1["id"],
        [("completed", 10), ("completed", 1), ("failed", 100), ("completed", 2),
         ("completed", 3), ("cancelled", 50), ("completed", 4), ("running", None),
         ("completed", 5)],
    )  # fmt: skip
    _campaigns(runtime, submission_id, v2["id"], [("completed", 1.5), ("queued", None)])

    with runtime.unit(Actor.system("test"), read_only=True) as ctx:
        assert plans.estimate(ctx, plans.get_plan(ctx, "cyber-default@1")) == (
            3 * 3600,
            "learned from 5 runs",
        )
        assert plans.estimate(ctx, plans.get_plan(ctx, "cyber-default")) == (
            1.5 * 3600,
            "learned from 1 run",
        )
        assert plans.estimate(ctx, plans.get_plan(ctx, "untried")) == (90 * 60, "declared")

    shown = ok(get(api, admin, "/plans/cyber-default@1"))
    assert (shown["estimated_duration_seconds"], shown["estimate_source"]) == (
        3 * 3600,
        "learned from 5 runs",
    )
    assert shown["declared_duration_seconds"] == 6 * 3600
    listed = {p["name"]: p for p in ok(get(api, admin, "/plans"))}
    assert listed["cyber-default"]["estimate_source"] == "learned from 1 run"
    assert listed["untried"]["estimate_source"] == "declared"
    history = ok(get(api, admin, "/plans/cyber-default/versions"))
    assert [p["estimated_duration_seconds"] for p in history] == [3 * 3600, 1.5 * 3600]


def test_the_guides_example_is_a_valid_plan() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "plans.md").read_text()
    example = guide.split("```yaml\n", 1)[1].split("```", 1)[0]
    document = plans.load_plan_yaml(example)
    assert document.elicitation.agent and document.reference_models and len(document.items) == 2


def test_a_k8s_item_carries_its_values_file_to_the_job(runtime: Runtime) -> None:
    document = PlanDocument.model_validate(
        with_item({"sandbox": "k8s", "sandbox_config": "/etc/predeploy/k8s-values.yaml"})
    )
    spec = {
        "sandbox": document.items[0].sandbox,
        "sandbox_config": document.items[0].sandbox_config,
    }

    assert sandbox_of(spec) == ("k8s", "/etc/predeploy/k8s-values.yaml")
    assert sandbox_of({"sandbox": "bwrap", "sandbox_config": None}) == "bwrap"
    assert sandbox_of({"sandbox": None}) is None
