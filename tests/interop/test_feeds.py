"""Feeds of advisories: an Atom 1.0 feed (RFC 4287) and a JSON Feed 1.1 at one URL each, giving
every caller exactly the advisories they may see (published ones of ours and imported ones), newest
change first; a new revision moves its advisory to the top; `updated_after`, `limit` and the
`next` links let a poller fetch every change exactly once; `ETag` and 304; bad parameters refused
naming the field.

It proves threat T43 (a feed, or a cache in front of it, gives one audience's advisories to
another) of `docs/threat-model.md`, with `tests/clearinghouse/test_sharing.py`.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from tests.clearinghouse.conftest import SOFTWARE_VULN, Community, body
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.test_advisories import (
    EMBARGO_END,
    _clock,
    _coordinating_case,
    _draft,
    _ok,
    _second_analyst,
)
from tests.conftest import Caller
from tests.interop.test_osv import record, send

FEEDS = "/api/v1/clearinghouse/feeds/advisories"
ADVISORIES = "/api/v1/clearinghouse/advisories"
ATOM = "{http://www.w3.org/2005/Atom}"
PUBLIC_URL = "http://127.0.0.1:8000"
"""The default `public_url`: every link in a feed is absolute, from it."""

JSON_FEED_1_1 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string"},
        "home_page_url": {"type": "string", "format": "uri"},
        "feed_url": {"type": "string", "format": "uri"},
        "next_url": {"type": "string", "format": "uri"},
        "authors": {"type": "array", "items": {"type": "object", "minProperties": 1}},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_text"]}, {"required": ["content_html"]}],
                "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string", "format": "uri"},
                    "title": {"type": "string"},
                    "content_text": {"type": "string"},
                    "summary": {"type": "string"},
                    "date_published": {"type": "string", "format": "date-time"},
                    "date_modified": {"type": "string", "format": "date-time"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "attachments": {
                        "type": "array",
                        "items": {"type": "object", "required": ["url", "mime_type"]},
                    },
                },
            },
        },
    },
}
"""What JSON Feed 1.1 (https://jsonfeed.org/version/1.1) requires of a feed and its items."""


def _path(url: str) -> str:
    assert url.startswith(f"{PUBLIC_URL}/"), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def atom(community: Community, caller: Caller | None, **params: Any) -> ET.Element:
    response = community.get(caller, f"{FEEDS}.atom", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    return root


def json_feed(community: Community, caller: Caller | None, **params: Any) -> dict[str, Any]:
    response = community.get(caller, f"{FEEDS}.json", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/feed+json"
    feed: dict[str, Any] = response.json()
    return feed


def _urn(entry: ET.Element) -> str:
    return entry.findtext(f"{ATOM}id") or ""


def feed_ids(community: Community, caller: Caller | None, **params: Any) -> list[str]:
    """The advisories (`PDXA-...` numbers, imported record ids) in `caller`'s feeds, in order;
    the Atom and the JSON feed must list the same ones."""
    entries = atom(community, caller, **params).findall(f"{ATOM}entry")
    items = json_feed(community, caller, **params)["items"]
    assert [_urn(e) for e in entries] == [i["id"] for i in items]
    return [item["_predeploy"]["id"] for item in items]


def _case(community: Community) -> str:
    """A coordinating case of a report of its own (open it before the clock passes its embargo)."""
    vuln = community.file(body(SOFTWARE_VULN, root_cause=f"src/{uuid.uuid4().hex}.c:f",
                               consent={"share": True, "credit": True}))  # fmt: skip
    return _coordinating_case(community, vuln)


def _publish(community: Community, case: str, tlp: str = "CLEAR", **fields: Any) -> str:
    """The advisory of `case`, published under `tlp` a minute after the later of the clock and
    the end of the case's embargo."""
    clock = _clock(community)
    clock.set(max(clock.now(), EMBARGO_END) + timedelta(minutes=1))
    drafted = _ok(_draft(community, case, tlp=tlp, **fields), 201)
    _ok(community.post(_second_analyst(community), f"{ADVISORIES}/{drafted['number']}/publish",
                       {"sha256": drafted["draft"]["sha256"]}))  # fmt: skip
    number: str = drafted["number"]
    return number


def _import(community: Community, *ids: str, tlp: str = "CLEAR", **fields: Any) -> None:
    records = [record(id=i, aliases=[f"CVE-{i.removeprefix('PYSEC-')}"], **fields) for i in ids]
    response = send(community, json.dumps(records).encode(), "application/json", tlp=tlp)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == [], response.text


def test_the_feeds_are_atom_1_0_and_json_feed_1_1_with_working_links(community: Community) -> None:
    number = _publish(community, _case(community),
                      references=[{"type": "FIX", "url": "https://example.org/fix"}])  # fmt: skip
    _clock(community).advance(timedelta(minutes=1))
    _import(community, "PYSEC-2099-1")

    root = atom(community, None)
    for name in ("id", "title", "updated"):
        assert root.findtext(f"{ATOM}{name}"), name
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "Testing Agency"
    links = {link.get("rel"): link for link in root.findall(f"{ATOM}link")}
    assert links["self"].get("href") == f"{PUBLIC_URL}{FEEDS}.atom"
    assert links["alternate"].get("type") == "application/feed+json"
    # One feed, whatever the page: its id has no page parameters.
    assert atom(community, None, limit=1).findtext(f"{ATOM}id") == f"{PUBLIC_URL}{FEEDS}.atom"
    imported, ours = root.findall(f"{ATOM}entry")
    for entry in (imported, ours):
        for name in ("id", "title", "updated"):
            assert entry.findtext(f"{ATOM}{name}"), name
    assert root.findtext(f"{ATOM}updated") == imported.findtext(f"{ATOM}updated")
    updated = datetime.fromisoformat(ours.findtext(f"{ATOM}updated") or "")
    assert updated == EMBARGO_END + timedelta(minutes=1)
    assert ours.findtext(f"{ATOM}published") == ours.findtext(f"{ATOM}updated")
    assert _urn(ours) == f"urn:predeploy:advisory:{number}"
    assert ours.findtext(f"{ATOM}title") == f"{number}: Heap overflow in libexample before 2.4.1"
    assert ours.findtext(f"{ATOM}summary") == "A crafted header overflows a heap buffer."
    categories = {(c.get("term"), c.get("scheme")) for c in ours.findall(f"{ATOM}category")}
    assert categories == {("TLP:CLEAR", "https://www.first.org/tlp/"),
                          ("CVE-2026-12345", "urn:predeploy:alias")}  # fmt: skip
    entry_links = [(link.get("rel"), link.get("title"), link.get("href"))
                   for link in ours.findall(f"{ATOM}link")]  # fmt: skip
    read = f"{PUBLIC_URL}{ADVISORIES}/{number}"
    assert entry_links == [("alternate", "advisory", read)] + [
        ("related", fmt, f"{read}/export?format={fmt}")
        for fmt in ("stix", "csaf", "csaf_vex", "osv", "cve5")
    ]
    assert _urn(imported) == "urn:predeploy:imported:PYSEC-2099-1"
    assert imported.findtext(f"{ATOM}published") == "2099-01-01T00:00:00+00:00"
    osv = f"{PUBLIC_URL}{ADVISORIES}/PYSEC-2099-1/export?format=osv"
    assert [(link.get("rel"), link.get("href")) for link in imported.findall(f"{ATOM}link")] == [
        ("alternate", osv)
    ]
    # Every link of either feed answers, for the public.
    for entry in (imported, ours):
        for link in entry.findall(f"{ATOM}link"):
            assert community.api.http.get(_path(link.get("href") or "")).status_code == 200

    feed = json_feed(community, None)
    validator = Draft202012Validator(
        JSON_FEED_1_1, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(feed)] == []
    assert feed["feed_url"] == f"{PUBLIC_URL}{FEEDS}.json" and "next_url" not in feed
    first, second = feed["items"]
    assert first["_predeploy"] == {
        "kind": "imported", "id": "PYSEC-2099-1", "tlp": "CLEAR", "aliases": ["CVE-2099-1"],
        "formats": ["osv"], "modified": "2099-01-02T03:04:05Z",
    }  # fmt: skip
    assert first["date_modified"] == (EMBARGO_END + timedelta(minutes=2)).isoformat().replace(
        "+00:00", "Z"
    )
    assert (second["id"], second["url"]) == (f"urn:predeploy:advisory:{number}", read)
    assert second["tags"] == ["TLP:CLEAR", "CVE-2026-12345"]
    assert [a["title"] for a in second["attachments"]] == ["stix", "csaf", "csaf_vex", "osv",
                                                           "cve5"]  # fmt: skip
    assert second["_predeploy"]["revision"] == 1
    assert "Remediation: Upgrade to 2.4.1." in second["content_text"]


def test_each_caller_gets_exactly_what_they_may_see(community: Community) -> None:
    cases = [_case(community) for _ in range(4)]
    clear = _publish(community, cases[0], "CLEAR")
    green = _publish(community, cases[1], "GREEN")
    amber = _publish(
        community, cases[2], "AMBER", recipients={"orgs": [community.recipient.org_id]}
    )
    draft = _ok(_draft(community, cases[3]), 201)["number"]
    clock = _clock(community)
    clock.advance(timedelta(minutes=1))
    _import(community, "PYSEC-2099-1")
    clock.advance(timedelta(minutes=1))
    _import(community, "PYSEC-2099-2", tlp="GREEN")

    public = ["PYSEC-2099-1", clear]
    community_wide = ["PYSEC-2099-2", "PYSEC-2099-1", green, clear]
    expected: dict[str, tuple[Caller | None, list[str]]] = {
        "public": (None, public),
        "developer (not a participant)": (community.developer, public),
        "participant": (community.participant, community_wide),
        "recipient": (community.recipient, ["PYSEC-2099-2", "PYSEC-2099-1", amber, green, clear]),
        "analyst": (community.analyst, ["PYSEC-2099-2", "PYSEC-2099-1", amber, green, clear]),
    }
    for who, (caller, ids) in expected.items():
        assert feed_ids(community, caller) == ids, who
    # The draft is in no one's feed, but the analysts can read it: it exists.
    assert community.get(community.analyst, f"{ADVISORIES}/{draft}").status_code == 200

    # A cache must not hand one caller's feed to another.
    anonymous = community.get(None, f"{FEEDS}.json")
    token = community.get(community.participant, f"{FEEDS}.json")
    assert anonymous.headers["vary"] == token.headers["vary"] == "Authorization"
    assert "private" in token.headers["cache-control"]
    assert "private" not in anonymous.headers["cache-control"]
    assert anonymous.headers["etag"] != token.headers["etag"]


def test_a_new_revision_moves_its_advisory_to_the_top(community: Community) -> None:
    cases = [_case(community) for _ in range(2)]
    first = _publish(community, cases[0])
    second = _publish(community, cases[1])
    assert feed_ids(community, None) == [second, first]
    before = json_feed(community, None)["items"][1]

    clock = _clock(community)
    clock.advance(timedelta(hours=1))
    revised = _ok(_draft(community, cases[0], remediation="Upgrade to 2.4.2."), 201)
    # A draft changes nothing in the feed.
    assert feed_ids(community, None) == [second, first]
    clock.advance(timedelta(hours=1))
    _ok(community.post(_second_analyst(community), f"{ADVISORIES}/{first}/publish",
                       {"sha256": revised["draft"]["sha256"]}))  # fmt: skip

    assert feed_ids(community, None) == [first, second]
    feed = json_feed(community, None)
    after = feed["items"][0]
    assert after["date_modified"] == clock.now().isoformat().replace("+00:00", "Z")
    assert after["date_modified"] > before["date_modified"]
    assert after["date_published"] == before["date_published"]
    assert after["_predeploy"]["revision"] == 2
    assert "Upgrade to 2.4.2." in after["content_text"]
    assert atom(community, None).findtext(f"{ATOM}updated") == clock.now().isoformat()


def test_a_poller_gets_every_change_once_with_updated_after_limit_and_next(
    community: Community,
) -> None:
    case = _case(community)
    clock = _clock(community)
    _import(community, "PYSEC-2099-1")
    clock.advance(timedelta(minutes=1))
    _import(community, "PYSEC-2099-2")
    number = _publish(community, case)
    assert feed_ids(community, None, limit=1) == [number]
    assert feed_ids(community, None) == [number, "PYSEC-2099-2", "PYSEC-2099-1"]

    # The poller keeps the newest `updated` it read; nothing has changed since.
    since = json_feed(community, None)["items"][0]["date_modified"]
    assert feed_ids(community, None, updated_after=since) == []
    empty = json_feed(community, None, updated_after=since)
    assert "next_url" not in empty

    # One import changes seven advisories in the same instant; pages of two hold them all.
    clock.advance(timedelta(minutes=1))
    batch = [f"PYSEC-2099-{n}" for n in range(3, 10)]
    _import(community, *batch)
    _import(community, "PYSEC-2099-1", modified="2099-06-01T00:00:00Z", summary="Now fixed")
    for fmt in ("atom", "json"):
        seen: list[str] = []
        path: str | None = f"{FEEDS}.{fmt}?limit=2&updated_after={since.replace('+', '%2B')}"
        while path is not None:
            if fmt == "json":
                page = _ok(community.api.http.get(path))
                seen += [item["_predeploy"]["id"] for item in page["items"]]
                path = _path(page["next_url"]) if "next_url" in page else None
            else:
                response = community.api.http.get(path)
                root = ET.fromstring(response.content)
                seen += [_urn(e).rsplit(":", 1)[1] for e in root.findall(f"{ATOM}entry")]
                following = [link.get("href") for link in root.findall(f"{ATOM}link")
                             if link.get("rel") == "next"]  # fmt: skip
                path = _path(following[0] or "") if following else None
            assert len(seen) <= 8, seen
        assert sorted(seen) == sorted([*batch, "PYSEC-2099-1"]), fmt
        assert len(seen) == len(set(seen)) == 8


def test_an_unchanged_feed_answers_304_to_its_etag(community: Community) -> None:
    _import(community, "PYSEC-2099-1")
    for fmt in ("atom", "json"):
        first = community.get(community.participant, f"{FEEDS}.{fmt}")
        etag = first.headers["etag"]
        assert first.headers["last-modified"] == "Mon, 30 Nov 2026 12:00:00 GMT"
        again = community.api.http.get(
            f"{FEEDS}.{fmt}", headers={**community.participant.headers, "If-None-Match": etag}
        )
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        weak = community.api.http.get(
            f"{FEEDS}.{fmt}",
            headers={**community.participant.headers, "If-None-Match": f'"x", W/{etag}'},
        )
        assert weak.status_code == 304
    etag = community.get(community.participant, f"{FEEDS}.json").headers["etag"]
    public = community.get(None, f"{FEEDS}.json")
    _clock(community).advance(timedelta(seconds=1))
    _import(community, "PYSEC-2099-2", tlp="GREEN")
    changed = community.api.http.get(
        f"{FEEDS}.json", headers={**community.participant.headers, "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # The public cannot see the new GREEN advisory: for it, nothing changed.
    unchanged = community.api.http.get(
        f"{FEEDS}.json", headers={"If-None-Match": public.headers["etag"]}
    )
    assert unchanged.status_code == 304


def test_bad_parameters_are_refused_naming_the_field(community: Community) -> None:
    cases = [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"updated_after": "2026-12-01T00:00:00"}, "updated_after"),
        ({"cursor": "not a cursor"}, "cursor"),
    ]
    for fmt in ("atom", "json"):
        for params, field in cases:
            response = community.get(None, f"{FEEDS}.{fmt}", **params)
            assert response.status_code == 422, (params, response.text)
            error = response.json()["error"]
            assert error["field"] == field and field in error["message"], (params, error)


def test_a_control_character_in_an_imported_summary_keeps_the_atom_feed_valid(
    community: Community,
) -> None:
    _import(community, "PYSEC-2099-1", summary="Overflow\u0007 in parsing")
    (entry,) = atom(community, None).findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}summary") == "Overflow\ufffd in parsing"
    assert json_feed(community, None)["items"][0]["summary"] == "Overflow\u0007 in parsing"
