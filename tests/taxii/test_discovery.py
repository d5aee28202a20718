"""Discovery, the API root and the collections, through taxii2-client: what each caller may read
and write in each collection, and how a collection they may not use answers (401 without a token,
404 when it is not theirs to see, 403 when they see it but may not do that); TAXII's media type
on every answer and its error resource on every refusal."""

from __future__ import annotations

from typing import Any

import pytest
from requests import HTTPError

from predeploy.api import create_app
from predeploy.config import Settings
from predeploy.runtime import Runtime
from predeploy.taxii.service import COLLECTIONS
from tests.authz_matrix import api_routes
from tests.conftest import Caller
from tests.taxii.conftest import MAX_CONTENT_LENGTH, TAXII, Taxii

COVERED_ROUTES = {
    ("GET", "/taxii2/"): "test_discovery.py::test_discovery_and_the_api_root",
    ("GET", "/taxii2/clearinghouse/"): "test_discovery.py::test_discovery_and_the_api_root",
    ("GET", "/taxii2/clearinghouse/collections/"): "test_discovery.py::test_what_each_...",
    (
        "GET",
        "/taxii2/clearinghouse/collections/{collection_id}/",
    ): "test_discovery.py::test_a_collection_one_may_not_use_...",
    (
        "GET",
        "/taxii2/clearinghouse/collections/{collection_id}/objects/",
    ): "test_objects.py, test_visibility.py",
    (
        "POST",
        "/taxii2/clearinghouse/collections/{collection_id}/objects/",
    ): "test_inbox.py",
    (
        "GET",
        "/taxii2/clearinghouse/collections/{collection_id}/objects/{object_id}/",
    ): "test_objects.py, test_visibility.py",
    (
        "GET",
        "/taxii2/clearinghouse/collections/{collection_id}/objects/{object_id}/versions/",
    ): "test_objects.py::test_a_new_revision_is_a_new_version_of_its_objects",
    (
        "GET",
        "/taxii2/clearinghouse/collections/{collection_id}/manifest/",
    ): "test_objects.py, test_visibility.py",
    ("GET", "/taxii2/clearinghouse/status/{status_id}/"): "test_inbox.py",
}
"""Every TAXII route and the tests that hold who may do what on it (the app-wide authorization
matrix leaves `/taxii2/` to these)."""


def test_every_taxii_route_is_covered(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    routes = api_routes(create_app(Runtime(settings=settings)))
    assert {r for r in routes if r[1].startswith("/taxii2/")} == set(COVERED_ROUTES)


def test_discovery_and_the_api_root(taxii: Taxii) -> None:
    server = taxii.server(None)
    assert server.title == "predeploy TAXII server"
    assert [root.url for root in server.api_roots] == [taxii.root_url]
    assert server.default is not None and server.default.url == taxii.root_url
    root = server.default
    assert root.versions == [TAXII]
    assert root.max_content_length == MAX_CONTENT_LENGTH


def _rights(taxii: Taxii, caller: Caller | None) -> dict[str, tuple[bool, bool]]:
    return {c.alias: (c.can_read, c.can_write) for c in taxii.root(caller).collections}


def test_what_each_caller_may_read_and_write(taxii: Taxii) -> None:
    community = taxii.community
    readers = {"public": (True, False), "community": (True, False), "partners": (True, False)}
    posting = readers | {"reports": (False, True)}
    assert _rights(taxii, None) == {"public": (True, False)}
    # Members of participant orgs post reports, with a token that may write.
    assert _rights(taxii, community.participant) == posting
    assert _rights(taxii, community.reporter_admin) == posting
    assert _rights(taxii, taxii.read_only(community.participant)) == readers
    # Vendors, developers and the agency read; the inbox is not theirs.
    for caller in (community.vendor, community.developer, community.analyst):
        assert _rights(taxii, caller) == readers
    # A collection is found by its id as by its alias, and its id is a UUID as TAXII asks.
    for collection in COLLECTIONS:
        by_id = taxii.get(community.participant, f"collections/{collection.id}/").json()
        by_alias = taxii.get(community.participant, f"collections/{collection.alias}/").json()
        assert by_id == by_alias and by_id["id"] == collection.id
        assert by_id["media_types"] == ["application/stix+json;version=2.1"]


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == TAXII
    error: dict[str, Any] = response.json()
    assert error["http_status"] == str(status) and error["title"] and error["description"]
    return error


def test_a_collection_one_may_not_use_answers_401_404_or_403(taxii: Taxii) -> None:
    community = taxii.community
    for alias in ("community", "partners", "reports"):
        refused = _error(taxii.get(None, f"collections/{alias}/"), 401)
        assert "bearer token" in refused["description"]
        assert taxii.get(None, f"collections/{alias}/objects/").headers["WWW-Authenticate"]
    for caller in (community.vendor, community.analyst, taxii.read_only(community.participant)):
        _error(taxii.get(caller, "collections/reports/"), 404)
    assert _error(taxii.get(community.vendor, "collections/nowhere/"), 404)["description"] == (
        "collection nowhere not found"
    )
    # The inbox is seen by those who post to it, and serves nothing.
    inbox = taxii.collection(community.participant, "reports")
    with pytest.raises(HTTPError) as refused:
        taxii.get(community.participant, f"collections/{inbox.id}/objects/").raise_for_status()
    assert refused.value.response.status_code == 403
    assert "inbox" in _error(refused.value.response, 403)["description"]
    # Paths and methods TAXII does not define answer in TAXII's terms too.
    _error(taxii.get(community.participant, "nowhere/"), 404)
    _error(taxii.post(community.participant, "collections/", b"{}"), 405)


def test_a_forged_token_is_refused_even_on_public_routes(taxii: Taxii) -> None:
    forged = Caller(token="pdp_forged", user_id="", org_id="")
    _error(taxii.get(forged, "collections/public/objects/"), 401)
    _error(taxii.get(forged, ""), 401)
