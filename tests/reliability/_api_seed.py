"""The seeded world behind the schema-driven fuzzing of the API (`test_api_schema.py`).

`seed(api)` builds the authorization matrix's world (`tests/authz_matrix.build_world`: orgs A
and B with every object of theirs, a campaign with a logged sample, an issued report) and adds
the clearinghouse's objects (reports with an attachment, a case disclosed by its published
advisory and a case still open, each with a vendor and a post, a TAXII add request), so that
fuzzed calls can name objects that exist.

`Seeded.path_parameters` gives the real path parameters for each path template of the schema,
`Seeded.body_values` and `Seeded.query_values` real values for the body fields and query
parameters that name objects; `Seeded.refresh_victims` makes new objects for the routes whose
success destroys or moves on what they name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from predeploy.clock import FrozenClock
from tests.authz_matrix import (
    HOOK_HOST,
    LOG_NAME,
    PLAN_NAME,
    PREFIX,
    SAMPLE_ID,
    World,
    build_world,
)
from tests.clearinghouse.conftest import SOFTWARE_VULN, body
from tests.conftest import START, Api, Caller

CLEARINGHOUSE = f"{PREFIX}/clearinghouse"
TAXII_ROOT = "/taxii2/clearinghouse"
TAXII = "application/taxii+json;version=2.1"
EMBARGO = timedelta(days=1)
V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

ROLES: dict[str, str | None] = {
    "agency admin": "ag_adm",
    "agency evaluator": "ag_eval",
    "agency analyst": "ag_anal",
    "developer submitter": "a_sub",
    "developer admin": "a_adm",
    "vendor member": "vendor",
    "participant member": "p_member",
    "anonymous": None,
}
"""The roles the API is fuzzed as, and their principal in the world's `tokens`."""


@dataclass
class Seeded:
    """The world, its clearinghouse objects and the path parameters that name them."""

    world: World
    ids: dict[str, str] = field(default_factory=dict)
    cases: list[dict[str, str]] = field(default_factory=list)
    """The disclosed case (its advisory published) and an open one: their id, number, scored
    vulnerability and post."""
    combos: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    body_values: dict[str, list[Any]] = field(default_factory=dict)
    """Seeded values for request body fields that name objects, by field name."""
    query_values: dict[str, list[Any]] = field(default_factory=dict)
    """Seeded values for query parameters that name objects, by parameter name."""
    victims: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    """Path parameters naming objects made for one role's run, by (method, path template)."""
    admins: dict[str, Caller] = field(default_factory=dict)
    """An admin of developer org A and one of B."""

    @property
    def api(self) -> Api:
        return self.world.api

    def token(self, role: str) -> str | None:
        """The bearer token of `role` (None: anonymous)."""
        principal = ROLES[role]
        return None if principal is None else self.world.tokens[principal]

    def send(self, token: str | None, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.api.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, (method, path, response.text)
        return response.json() if "json" in response.headers.get("content-type", "") else None

    def as_role(self, role: str, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        """Call `path` (absolute) as `role` and return its JSON, asserting the status."""
        return self.send(self.token(role), method, path, expect, **kwargs)

    def refresh_victims(self) -> None:
        """New objects for the routes whose success destroys or moves on what they name (a
        deletion, a revocation, a state change), so that one role's run does not take the
        shared objects away from, or change them under, the next role's."""
        w = self.world
        developer_admins = (self.admins["A"], self.admins["B"])
        hooks = [
            w.call(
                caller,
                "POST",
                "/webhooks",
                201,
                json={"url": f"https://{HOOK_HOST}/v{w.n()}", "events": ["*"]},
            )
            for caller in developer_admins
        ]
        tokens = [
            w.call(caller, "POST", "/tokens", 201, json={"name": f"victim-{w.n()}"})
            for caller in developer_admins
        ]
        host = f"victim-{w.n()}.example.net"
        w.call(w.api.agency_admin, "POST", "/webhooks/allowlist", 201, json={"host": host})
        drafts = [{"submission_id": w.fresh_draft(org)} for org in ("A", "B")]
        campaigns = [{"campaign_id": w.fresh_campaign(org)["campaign_id"]} for org in ("A", "B")]
        case = _open_case(self)
        submission = f"{PREFIX}/submissions/{{submission_id}}"
        self.victims = {
            ("DELETE", f"{PREFIX}/webhooks/{{webhook_id}}"): [
                {"webhook_id": h["id"]} for h in hooks
            ],
            ("DELETE", f"{PREFIX}/tokens/{{token_id}}"): [{"token_id": t["id"]} for t in tokens],
            ("DELETE", f"{PREFIX}/webhooks/allowlist/{{host}}"): [{"host": host}],
            ("PATCH", submission): drafts,
            ("POST", f"{submission}/transitions"): drafts,
            ("POST", f"{PREFIX}/campaigns/{{campaign_id}}/cancel"): campaigns,
            ("POST", f"{CLEARINGHOUSE}/cases/{{case_id}}/state"): [{"case_id": case["case_id"]}],
        }

    def path_parameters(self, method: str, path: str) -> list[dict[str, str]]:
        """Real path parameters for the operation (every parameter of its path), or []."""
        return self.victims.get((method, path)) or self.combos.get(path, [])


def _combos(seeded: Seeded) -> dict[str, list[dict[str, str]]]:
    w, ids, cases = seeded.world, seeded.ids, seeded.cases
    a, b = w.objects["A"], w.objects["B"]
    orgs = [a["org_id"], b["org_id"], ids["vendor_org"], ids["participant_org"]]
    campaigns = [w.campaign(org) for org in ("A", "B")]
    report = w.issued_report("A")
    vendor = ids["vendor_org"]
    collections = [ids["collection_public"], ids["collection_community"], "reports"]
    taxii_objects = [
        {"collection_id": ids["collection_public"], "object_id": ids["taxii_object"]},
        {"collection_id": ids["collection_community"], "object_id": ids["taxii_object"]},
    ]
    return {
        f"{PREFIX}/orgs/{{org_id}}": [{"org_id": o} for o in orgs],
        f"{PREFIX}/tokens/{{token_id}}": [{"token_id": t} for t in (a["token_id"], b["token_id"])],
        f"{PREFIX}/webhooks/allowlist/{{host}}": [{"host": HOOK_HOST}],
        **{
            f"{PREFIX}/webhooks/{{webhook_id}}{tail}": [
                {"webhook_id": o["webhook_id"]} for o in (a, b)
            ]
            for tail in ("", "/deliveries")
        },
        f"{PREFIX}/models/{{model_id}}": [{"model_id": o["model_id"]} for o in (a, b)],
        **{
            f"{PREFIX}/submissions/{{submission_id}}{tail}": [
                {"submission_id": s}
                for s in (a["submission_id"], b["submission_id"], report["submission_id"])
            ]
            for tail in (
                "",
                "/attachments",
                "/report",
                "/report/approve",
                "/findings",
            )
        },
        f"{PREFIX}/submissions/{{submission_id}}/attachments/{{attachment_id}}/content": [
            {"submission_id": o["submission_id"], "attachment_id": o["attachment_id"]}
            for o in (a, b)
        ],
        f"{PREFIX}/submissions/{{submission_id}}/report/{{name}}": [
            {"submission_id": report["submission_id"], "name": name}
            for name in ("1.json", "1.sig", "1.html")
        ],
        **{
            f"{PREFIX}/plans/{{ref}}{tail}": [{"ref": w.plan()}, {"ref": PLAN_NAME}]
            for tail in ("", "/export")
        },
        f"{PREFIX}/plans/{{name}}/versions": [{"name": PLAN_NAME}],
        **{
            f"{PREFIX}/campaigns/{{campaign_id}}{tail}": [
                {"campaign_id": c["campaign_id"]} for c in campaigns
            ]
            for tail in ("", "/results", "/logs", "/samples", "/events")
        },
        f"{PREFIX}/campaigns/{{campaign_id}}/logs/{{job_id}}/{{name}}": [
            {"campaign_id": c["campaign_id"], "job_id": c["job_id"], "name": LOG_NAME}
            for c in campaigns
        ],
        **{
            f"{CLEARINGHOUSE}/vulns/{{vuln_id}}{tail}": [
                {"vuln_id": ids["vuln_clear"]},
                {"vuln_id": ids["vuln_amber"]},
            ]
            for tail in ("", "/triage", "/merge", "/split", "/similar", "/attachments")
        },
        f"{CLEARINGHOUSE}/vulns/{{vuln_id}}/attachments/{{attachment_id}}/content": [
            {"vuln_id": ids["vuln_clear"], "attachment_id": ids["vuln_attachment"]}
        ],
        **{
            f"{CLEARINGHOUSE}/cases/{{case_id}}{tail}": [
                {"case_id": c[key]} for c in cases for key in ("case_id", "case_number")
            ]
            for tail in (
                "",
                "/embargo",
                "/embargo/override",
                "/embargo/override/approve",
                "/vulnerabilities",
                "/vendors",
                "/posts",
            )
        },
        **{
            f"{CLEARINGHOUSE}/cases/{{case_id}}/vendors/{{org_id}}/{tail}": [
                {"case_id": c["case_id"], "org_id": vendor} for c in cases
            ]
            for tail in ("status", "approve")
        },
        f"{CLEARINGHOUSE}/cases/{{case_id}}/posts/{{post_id}}": [
            {"case_id": c["case_id"], "post_id": c["post_id"]} for c in cases
        ],
        **{
            f"{CLEARINGHOUSE}/advisories/{{advisory_id}}{tail}": [{"advisory_id": ids["advisory"]}]
            for tail in ("", "/publish", "/export")
        },
        f"{CLEARINGHOUSE}/advisories/{{advisory_id}}/revisions/{{number}}": [
            {"advisory_id": ids["advisory"], "number": "1"}
        ],
        "/.well-known/csaf/openpgp/{name}": [{"name": ids["openpgp_key"]}],
        **{
            f"/.well-known/csaf/{{label}}/{tail}": [{"label": "white"}, {"label": "green"}]
            for tail in ("", "index.txt", "changes.csv")
        },
        "/.well-known/csaf/{label}/{year}/": [{"label": "white", "year": ids["csaf_year"]}],
        "/.well-known/csaf/{label}/{year}/{name}": [
            {"label": "white", "year": ids["csaf_year"], "name": ids["csaf_name"] + suffix}
            for suffix in ("", ".sha256", ".sha512", ".asc")
        ],
        **{
            f"{TAXII_ROOT}/collections/{{collection_id}}/{tail}": [
                {"collection_id": c} for c in collections
            ]
            for tail in ("", "objects/", "manifest/")
        },
        **{
            f"{TAXII_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/{tail}": (
                taxii_objects
            )
            for tail in ("", "versions/")
        },
        f"{TAXII_ROOT}/status/{{status_id}}/": [{"status_id": ids["taxii_status"]}],
    }


def _body_values(seeded: Seeded) -> dict[str, list[Any]]:
    w, ids, cases = seeded.world, seeded.ids, seeded.cases
    a, b = w.objects["A"], w.objects["B"]
    orgs = [a["org_id"], b["org_id"], ids["vendor_org"], ids["participant_org"]]
    vulns = [ids["vuln_clear"], ids["vuln_amber"]]
    return {
        "org_id": orgs,
        "client_org_ids": [[ids["participant_org"]], [ids["vendor_org"]]],
        "user_id": [a["user_id"], b["user_id"]],
        "model_id": [a["model_id"], b["model_id"]],
        "submission_id": [a["submission_id"], b["submission_id"]],
        "plan": [w.plan(), PLAN_NAME],
        "vulns": [[v] for v in vulns],
        "into": vulns,
        "duplicate_of": vulns,
        "vulnerability_id": [c["vulnerability_id"] for c in cases],
        "case": [c[key] for c in cases for key in ("case_number", "case_id")],
    }


def _query_values(seeded: Seeded) -> dict[str, list[Any]]:
    w, ids = seeded.world, seeded.ids
    jobs = [w.campaign(org)["job_id"] for org in ("A", "B")]
    return {
        "job": jobs,
        "sample": [SAMPLE_ID],
        "object_id": [
            w.objects[org][key] for org in ("A", "B") for key in ("model_id", "submission_id")
        ],
        "object": [f"vuln:{ids['vuln_clear']}", f"advisory:{ids['advisory']}"],
        "org": [w.objects["A"]["org_id"], ids["vendor_org"], ids["participant_org"]],
    }


def _open_case(seeded: Seeded, vuln_id: str | None = None) -> dict[str, str]:
    """A case (on a new report, unless `vuln_id` is given) with a scored vulnerability, the
    vendor org invited and its status approved, and a post: their ids."""
    analyst, vendor = "agency analyst", seeded.ids["vendor_org"]
    if vuln_id is None:
        filed = seeded.as_role(
            "participant member",
            "POST",
            f"{CLEARINGHOUSE}/vulns",
            201,
            json=body(SOFTWARE_VULN, root_cause=f"src/c{uuid.uuid4().hex}.c:f"),
        )
        vuln_id = filed["id"]
    case = seeded.as_role(
        analyst,
        "POST",
        f"{CLEARINGHOUSE}/cases",
        201,
        json={
            "vulns": [vuln_id],
            "title": "Heap overflow in libexample",
            "embargo_end": (seeded.api.runtime.clock.now() + EMBARGO).isoformat(),
        },
    )
    path = f"{CLEARINGHOUSE}/cases/{case['id']}"
    added = seeded.as_role(
        analyst,
        "POST",
        f"{path}/vulnerabilities",
        201,
        json={"title": "Overflow in parse_header", "cve_id": "CVE-2026-12345", "cvss_v3": V3},
    )
    vulnerability = added["vulnerabilities"][0]["id"]
    seeded.as_role(analyst, "POST", f"{path}/vendors", 201, json={"org_id": vendor})
    seeded.as_role(
        "vendor member",
        "POST",
        f"{path}/vendors/{vendor}/status",
        200,
        json={"vulnerability_id": vulnerability, "status": "fixed", "statement": "Fixed in 2.4.1."},
    )
    seeded.as_role(
        analyst,
        "POST",
        f"{path}/vendors/{vendor}/approve",
        200,
        json={"vulnerability_id": vulnerability},
    )
    post = seeded.as_role(analyst, "POST", f"{path}/posts", 201, json={"body": "Fix in 2.4.1."})
    return {
        "case_id": case["id"],
        "case_number": case["number"],
        "vulnerability_id": vulnerability,
        "post_id": post["id"],
    }


def _clearinghouse(seeded: Seeded) -> None:
    """Reports (one CLEAR with an attachment, one AMBER); a case on the first, disclosed by its
    published advisory; and a case still open."""
    ids = seeded.ids
    reporter = "participant member"
    clear = seeded.as_role(
        reporter, "POST", f"{CLEARINGHOUSE}/vulns", 201, json=body(SOFTWARE_VULN, tlp="CLEAR")
    )
    amber = seeded.as_role(
        reporter,
        "POST",
        f"{CLEARINGHOUSE}/vulns",
        201,
        json=body(SOFTWARE_VULN, root_cause="src/other.c:g"),
    )
    ids.update(vuln_clear=clear["id"], vuln_amber=amber["id"])
    attachment = seeded.as_role(
        reporter,
        "POST",
        f"{CLEARINGHOUSE}/vulns/{clear['id']}/attachments",
        201,
        params={"filename": "notes.txt", "proof_of_concept": False},
        content=b"steps to reproduce",
        headers={"Content-Type": "text/plain"},
    )
    ids["vuln_attachment"] = attachment["id"]

    disclosed = _open_case(seeded, clear["id"])
    analyst = "agency analyst"
    seeded.as_role(
        analyst,
        "POST",
        f"{CLEARINGHOUSE}/cases/{disclosed['case_id']}/state",
        200,
        json={"state": "coordinating"},
    )
    advisory = seeded.as_role(
        analyst,
        "POST",
        f"{CLEARINGHOUSE}/advisories",
        201,
        json={
            "case": disclosed["case_number"],
            "title": "Heap overflow in libexample before 2.4.1",
            "summary": "A crafted header overflows a heap buffer.",
            "remediation": "Upgrade to 2.4.1.",
            "references": [{"type": "FIX", "url": "https://example.org/libexample/2.4.1"}],
        },
    )
    # The advisory is published (by an analyst who did not write it) once the embargo is over.
    clock = seeded.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(EMBARGO + timedelta(minutes=1))
    second = seeded.api.user(seeded.api.agency_admin.org_id, "analyst")
    seeded.send(
        second.token,
        "POST",
        f"{CLEARINGHOUSE}/advisories/{advisory['number']}/publish",
        200,
        json={"sha256": advisory["draft"]["sha256"]},
    )
    ids["advisory"] = advisory["number"]
    seeded.cases = [disclosed, _open_case(seeded)]


def _publication(seeded: Seeded) -> None:
    """Names the CSAF provider and the TAXII server give the published objects."""
    ids = seeded.ids
    index = seeded.api.http.get("/.well-known/csaf/white/index.txt")
    assert index.status_code == 200, index.text
    year, name = index.text.split()[0].split("/")
    metadata = seeded.send(None, "GET", "/.well-known/csaf/provider-metadata.json", 200)
    key_url = metadata["public_openpgp_keys"][0]["url"]
    ids.update(csaf_year=year, csaf_name=name, openpgp_key=key_url.rsplit("/", 1)[-1])

    taxii = {"Accept": TAXII}
    listed = seeded.as_role(
        "agency analyst", "GET", f"{TAXII_ROOT}/collections/", 200, headers=taxii
    )
    by_alias = {c["alias"]: c["id"] for c in listed["collections"]}
    ids.update(collection_public=by_alias["public"], collection_community=by_alias["community"])
    objects = seeded.as_role(
        "agency analyst",
        "GET",
        f"{TAXII_ROOT}/collections/{by_alias['public']}/objects/",
        200,
        headers=taxii,
    )
    ids["taxii_object"] = objects["objects"][0]["id"]
    status = seeded.as_role(
        "participant member",
        "POST",
        f"{TAXII_ROOT}/collections/reports/objects/",
        202,
        json=_stix_envelope(),
        headers={**taxii, "Content-Type": TAXII},
    )
    ids["taxii_status"] = status["id"]


def _stix_envelope() -> dict[str, Any]:
    stamp = START.isoformat().replace("+00:00", "Z")
    return {
        "objects": [
            {
                "type": "vulnerability",
                "spec_version": "2.1",
                "id": f"vulnerability--{uuid.uuid4()}",
                "created": stamp,
                "modified": stamp,
                "name": "Use after free in libexample's parser",
                "description": "Freed buffer read after a malformed header.",
            }
        ]
    }


def seed(api: Api) -> Seeded:
    """The world of the authorization matrix, a participant member and the clearinghouse's
    objects (`refresh_victims` is left to each role's run)."""
    world = build_world(api)
    seeded = Seeded(world=world)
    orgs = seeded.as_role("agency admin", "GET", f"{PREFIX}/orgs", 200, params={"limit": 500})
    by_name = {o["name"]: o["id"] for o in orgs["items"]}
    seeded.ids.update(
        vendor_org=by_name["Vantage Vendor"], participant_org=by_name["Pinnacle Participant"]
    )
    world.tokens["p_member"] = api.user(seeded.ids["participant_org"], "member").token
    seeded.admins = {org: api.user(world.objects[org]["org_id"], "admin") for org in ("A", "B")}
    # Made now (they are made on first use), before the clock moves past the embargo.
    for org in ("A", "B"):
        world.campaign(org)
    world.issued_report("A")
    _clearinghouse(seeded)
    _publication(seeded)
    seeded.combos = _combos(seeded)
    seeded.body_values = _body_values(seeded)
    seeded.query_values = _query_values(seeded)
    return seeded
