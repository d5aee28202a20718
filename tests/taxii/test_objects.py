"""Reading objects through taxii2-client: a published advisory's STIX objects in the collection of
its label, each valid under OASIS's validator; filters (`match[type|id|version|spec_version]`,
`added_after`), paging with `as_pages`, the manifest, versions across revisions, stable
`date_added` and the `X-TAXII-Date-Added-*` headers; bad filters refused with TAXII's error."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from taxii2client.v21 import as_pages

from predeploy.clock import FrozenClock
from tests.clearinghouse.conftest import SOFTWARE_VULN, body
from tests.clearinghouse.test_advisories import _draft, _second_analyst
from tests.interop.test_cve5 import publish
from tests.interop.test_stix import validation_errors
from tests.taxii.conftest import Taxii

ADVISORIES = "/api/v1/clearinghouse/advisories"
CREDITED = body(SOFTWARE_VULN, consent={"share": True, "credit": True})
FIX = [{"type": "FIX", "url": "https://example.org/fix"}]


def _published(taxii: Taxii, **fields: Any) -> str:
    community = taxii.community
    return publish(community, community.file(CREDITED), references=FIX, **fields)


def _ids(objects: list[dict[str, Any]]) -> list[str]:
    return [o["id"] for o in objects]


def test_a_public_advisory_is_served_filtered_and_paged(taxii: Taxii) -> None:
    number = _published(taxii)
    export = taxii.community.get(None, f"{ADVISORIES}/{number}/export", format="stix").json()
    public = taxii.collection(None, "public")
    envelope = public.get_objects()
    objects = envelope["objects"]
    assert envelope["more"] is False
    # The collection holds the advisory's STIX export, object for object, each one valid.
    assert sorted(objects, key=lambda o: o["id"]) == sorted(
        export["content"]["objects"], key=lambda o: o["id"]
    )
    assert validation_errors({"type": "bundle", "id": export["content"]["id"],
                              "objects": objects}) == []  # fmt: skip
    (vulnerability,) = [o for o in objects if o["type"] == "vulnerability"]

    assert _ids(public.get_objects(type="vulnerability")["objects"]) == [vulnerability["id"]]
    assert _ids(public.get_objects(id=vulnerability["id"])["objects"]) == [vulnerability["id"]]
    both = public.get_objects(type=["vulnerability", "course-of-action"])["objects"]
    assert {o["type"] for o in both} == {"vulnerability", "course-of-action"}
    assert public.get_objects(spec_version="2.0") == {"more": False}
    assert _ids(public.get_objects(spec_version="2.1")["objects"]) == _ids(objects)

    # Paged three at a time, in date_added order, with nothing repeated or skipped.
    pages = list(as_pages(public.get_objects, per_request=3))
    assert [len(p.get("objects", [])) for p in pages][:-1] == [3] * (len(pages) - 1)
    assert all(p["more"] and p["next"] for p in pages[:-1]) and pages[-1]["more"] is False
    assert [o["id"] for p in pages for o in p["objects"]] == _ids(objects)

    # The manifest lists the same versions; date_added stays what it was.
    manifest = public.get_manifest()["objects"]
    assert _ids(manifest) == _ids(objects)
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in manifest)
    (record,) = [r for r in manifest if r["id"] == vulnerability["id"]]
    assert record["version"] == vulnerability["modified"]
    assert public.get_manifest()["objects"] == manifest
    raw = taxii.get(None, f"collections/{public.id}/objects/", limit="2")
    assert raw.headers["Content-Type"] == "application/taxii+json;version=2.1"
    assert raw.headers["X-TAXII-Date-Added-First"] == manifest[0]["date_added"]
    assert raw.headers["X-TAXII-Date-Added-Last"] == manifest[1]["date_added"]
    last_added = manifest[-1]["date_added"]
    assert public.get_objects(added_after=last_added) == {"more": False}
    assert (
        "X-TAXII-Date-Added-First"
        not in taxii.get(None, f"collections/{public.id}/objects/", added_after=last_added).headers
    )

    # One object by id; and not in the collections of other labels.
    one = public.get_object(vulnerability["id"])
    assert one["objects"] == [vulnerability]
    partners = taxii.collection(taxii.community.recipient, "partners")
    assert partners.get_objects() == {"more": False}
    missing = taxii.get(taxii.community.recipient,
                        f"collections/{partners.id}/objects/{vulnerability['id']}/")  # fmt: skip
    assert missing.status_code == 404


def test_bad_filters_are_refused_naming_the_parameter(taxii: Taxii) -> None:
    bad = [
        ("added_after", "yesterday"),
        ("added_after", "2026-13-45T12:00:00Z"),
        ("limit", "0"),
        ("limit", "9" * 5000),
        ("limit", "²"),
        ("next", "not-a-cursor"),
        ("next", base64.urlsafe_b64encode(b'["2026-11-30T12:00:00", "x", "2026-11-30"]').decode()),
        ("match[version]", "newest"),
    ]
    for name, value in bad:
        refused = taxii.get(None, "collections/public/objects/", **{name: value})
        assert refused.status_code == 400, refused.text
        error = refused.json()
        assert error["description"].startswith(f"{name}: ") and error["http_status"] == "400"
        assert error["details"] == {"field": name}


def _clock(taxii: Taxii) -> FrozenClock:
    clock = taxii.community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


def test_a_new_revision_is_a_new_version_of_its_objects(taxii: Taxii) -> None:
    community = taxii.community
    number = _published(taxii)
    public = taxii.collection(None, "public")
    first = {r["id"]: r for r in public.get_manifest()["objects"]}
    _clock(taxii).advance(timedelta(days=1))
    case = number.replace("PDXA-", "PDX-")
    draft = _draft(community, case, remediation="Upgrade to 2.4.2.", references=FIX).json()
    published = community.post(_second_analyst(community), f"{ADVISORIES}/{number}/publish",
                               {"sha256": draft["draft"]["sha256"]})  # fmt: skip
    assert published.status_code == 200, published.text

    latest = public.get_objects()["objects"]
    (vulnerability,) = [o for o in latest if o["type"] == "vulnerability"]
    object_id = vulnerability["id"]
    versions = public.object_versions(object_id)["versions"]
    assert versions == [first[object_id]["version"], vulnerability["modified"]]
    assert versions[0] < versions[1]
    assert public.get_object(object_id)["objects"] == [vulnerability]
    assert public.get_object(object_id, version="first")["objects"][0]["modified"] == versions[0]
    assert [o["modified"] for o in public.get_object(object_id, version="all")["objects"]] == (
        versions
    )
    assert _ids(public.get_object(object_id, version=versions[0])["objects"]) == [object_id]
    assert public.get_object(object_id, version=versions[0])["objects"][0] != vulnerability

    # Objects that did not change keep their one version and its date_added; those that did are
    # added anew, later, so a client polling with added_after gets exactly the changes.
    manifest = {(r["id"], r["version"]): r for r in public.get_manifest(version="all")["objects"]}
    for unchanged_id, record in first.items():
        assert manifest[(unchanged_id, record["version"])]["date_added"] == record["date_added"]
    polled = public.get_objects(added_after=max(r["date_added"] for r in first.values()))
    changed = {o["type"] for o in polled["objects"]}
    assert changed == {"report", "vulnerability", "course-of-action", "relationship"}
    assert all(validation_errors(o) == [] for o in polled["objects"])
