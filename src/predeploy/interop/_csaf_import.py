"""Reading CSAF 2.0 documents for import: each checked against the OASIS CSAF 2.0 JSON schema
(shipped, with the FIRST CVSS schemas it references, so nothing is fetched) and turned into the
OSV shape imported advisories are kept in, so that CSAF and OSV records for the same
vulnerability merge by alias and defender checks match both.

The mapping (what the OSV shape cannot hold stays in `database_specific.csaf`):

| CSAF | OSV |
|---|---|
| `document.tracking.id` | `id` (with OSV's `x_` prefix unless it starts with a registered one, e.g. `RHSA-`), and an alias |
| `tracking.current_release_date`, `initial_release_date` | `modified`, `published` (in UTC) |
| each vulnerability's `cve`, and its `ids[].text` that are ids of an OSV home database (`GHSA-...`) | `aliases` |
| `document.title`; notes of category summary, description, general | `summary`; `details` |
| CVSS v3 and v2 vectors of the scores | `severity` (the first of each version) |
| document and vulnerability references | `references` (`self` → ADVISORY, others → WEB) |
| affected products (`known_affected`, `first_affected`, `last_affected`) named by a purl of an OSV ecosystem | `affected`: a versioned purl or a `product_version` branch → `versions`; a `vers:` range → an `ECOSYSTEM` range |
| every other product with a status (fixed, not affected, CPE-named, RPMs, AI models) | `database_specific.csaf.products` (name, status, CPE, purl) |

A document's TLP label must not be above the import's label: a `GREEN` document imports only as
GREEN, and `AMBER` and `RED` documents are refused (imported advisories carry no recipients). An
unlabelled document takes the import's label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from packageurl import PackageURL
from referencing import Registry, Resource

from ..clearinghouse.models import Tlp
from ._csaf_checks import mandatory_problems
from ._osv import (
    MAX_DEPTH,
    MAX_RECORD_BYTES,
    Item,
    Rejection,
    _osv_schema,
    check,
    timestamp,
    value_problem,
)
from ._osv_export import OSV_SCHEMA_VERSION, UNREGISTERED_PREFIX, osv_package, osv_timestamp

_FIRST_CVSS = ("cvss-v2.0", "cvss-v3.0", "cvss-v3.1")
_STATUS_WORDS = (
    ("known_affected", "affected"),
    ("first_affected", "affected"),
    ("last_affected", "affected"),
    ("fixed", "fixed"),
    ("first_fixed", "fixed"),
    ("recommended", "fixed"),
    ("known_not_affected", "not_affected"),
    ("under_investigation", "under_investigation"),
)
_DETAIL_NOTES = ("summary", "description", "general")
_LABELS = {"WHITE": Tlp.CLEAR, "GREEN": Tlp.GREEN, "AMBER": Tlp.AMBER, "RED": Tlp.RED}
_IMPORTABLE = {Tlp.CLEAR: {Tlp.CLEAR}, Tlp.GREEN: {Tlp.CLEAR, Tlp.GREEN}}
_CONSTRAINT = re.compile(r"^(>=|<=|!=|<|>|=)?(.+)$")


@cache
def csaf_validator() -> Draft202012Validator:
    """The OASIS CSAF 2.0 JSON schema, with FIRST's CVSS schemas resolved from local copies."""
    schemas = resources.files("predeploy.interop").joinpath("schemas")

    def load(name: str) -> Any:
        return json.loads(schemas.joinpath(name).read_text())

    registry: Registry[Any] = Registry().with_resources(
        (f"https://www.first.org/cvss/{name}.json",
         Resource.from_contents(load(f"first-{name}.json")))
        for name in _FIRST_CVSS
    )  # fmt: skip
    return Draft202012Validator(load("csaf-2.0.json"), registry=registry)


@cache
def _registered_prefix() -> re.Pattern[str]:
    """OSV's registered home-database prefixes, from its schema."""
    pattern: str = _osv_schema()["$defs"]["prefix"]["pattern"]
    return re.compile(pattern)


def parse(file: str, content: bytes, label: Tlp) -> Iterator[Item]:
    """The one CSAF document in a file's bytes, as an OSV-shaped record, if it may be imported
    at `label`; else why not."""
    if len(content) > MAX_RECORD_BYTES:
        yield Rejection(file, None, f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB")
        return
    if not file.lower().endswith(".json"):
        yield Rejection(file, None, "a CSAF document is a .json file")
        return
    try:
        document = json.loads(content)
    except ValueError as exc:
        yield Rejection(file, None, f"not valid JSON: {str(exc)[:300]}")
        return
    except RecursionError:
        yield Rejection(file, None, f"nested more than {MAX_DEPTH} levels deep")
        return
    yield read_document(file, document, label)


def read_document(file: str, document: object, label: Tlp) -> Item:
    """`document` as an OSV-shaped record if it is valid CSAF 2.0 that may be imported at
    `label`."""
    if not isinstance(document, dict):
        return Rejection(file, None, "a CSAF document is a JSON object")
    problem = value_problem(document)
    if problem is not None:
        return Rejection(file, *problem)
    error = best_match(csaf_validator().iter_errors(document))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or None
        return Rejection(file, where, f"not valid CSAF 2.0: {error.message[:500]}")
    problems = mandatory_problems(document, require_tlp=False)
    if problems:
        return Rejection(file, None, f"fails CSAF's mandatory test {problems[0]}")
    tlp_field = "document.distribution.tlp.label"
    stated = (document["document"].get("distribution") or {}).get("tlp", {}).get("label")
    if stated is not None and _LABELS[stated] not in _IMPORTABLE[label]:
        if _LABELS[stated] in (Tlp.AMBER, Tlp.RED):
            return Rejection(file, tlp_field, f"TLP:{stated} documents cannot be imported: "
                             "imported advisories carry no recipients")  # fmt: skip
        return Rejection(file, tlp_field, f"labelled TLP:{stated}: import it as {stated}")
    tracking = document["document"]["tracking"]
    for key in ("initial_release_date", "current_release_date"):
        try:
            _utc(tracking[key])
        except (ValueError, OverflowError) as exc:
            return Rejection(file, f"document.tracking.{key}", f"not an RFC 3339 timestamp: {exc}")
    try:
        record = to_osv(document)
    except ValueError as exc:  # a purl the schema's pattern lets through but is not one
        return Rejection(file, None, f"cannot be read into the OSV shape: {str(exc)[:300]}")
    return check(file, record, source_format="csaf")


def to_osv(document: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid CSAF document in the OSV shape (the mapping in the module's docstring)."""
    meta = document["document"]
    tracking = meta["tracking"]
    tracking_id: str = tracking["id"]
    record_id = (
        tracking_id
        if _registered_prefix().match(tracking_id)
        else f"{UNREGISTERED_PREFIX}{tracking_id}"
    )
    vulnerabilities = document.get("vulnerabilities") or []
    aliases = {tracking_id} if record_id != tracking_id else set()
    for vulnerability in vulnerabilities:
        if "cve" in vulnerability:
            aliases.add(vulnerability["cve"])
        aliases |= {
            i["text"]
            for i in vulnerability.get("ids") or []
            if _registered_prefix().match(i["text"])
        }
    affected, unmapped = _affected(
        _products(document.get("product_tree") or {}), _statuses(vulnerabilities)
    )
    record: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": record_id,
        "modified": _utc(tracking["current_release_date"]),
        "published": _utc(tracking["initial_release_date"]),
        "aliases": sorted(aliases - {record_id}),
        "summary": meta["title"],
        "details": "\n\n".join(
            note["text"] for note in meta.get("notes") or [] if note["category"] in _DETAIL_NOTES
        ),
        "affected": affected,
        "references": _references(document),
        "database_specific": {
            "csaf": {
                "tracking_id": tracking_id,
                "version": tracking["version"],
                "category": meta["category"],
                "publisher": meta["publisher"]["name"],
                "publisher_namespace": meta["publisher"]["namespace"],
                "tlp": (meta.get("distribution") or {}).get("tlp", {}).get("label"),
                "products": unmapped,
            }
        },
    }
    severity = _severity(vulnerabilities)
    if severity:
        record["severity"] = severity
    return record


def _utc(value: str) -> str:
    return osv_timestamp(timestamp(value).astimezone(UTC))


def _products(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every product by id, with the version its branch states (`product_version`) or the
    range (`product_version_range`)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(branches: list[dict[str, Any]], inherited: dict[str, str]) -> None:
        for branch in branches:
            here = dict(inherited)
            if branch["category"] in ("product_version", "product_version_range"):
                here = {branch["category"]: branch["name"]}
            if "product" in branch:
                found[branch["product"]["product_id"]] = {**branch["product"], **here}
            walk(branch.get("branches") or [], here)

    walk(tree.get("branches") or [], {})
    for product in tree.get("full_product_names") or []:
        found[product["product_id"]] = product
    for relationship in tree.get("relationships") or []:
        product = relationship["full_product_name"]
        found[product["product_id"]] = product
    return found


def _statuses(vulnerabilities: list[dict[str, Any]]) -> dict[str, str]:
    """Each product's status, the vulnerabilities' worst (affected before fixed before not
    affected before under investigation)."""
    status: dict[str, str] = {}
    for group, word in _STATUS_WORDS:
        for vulnerability in vulnerabilities:
            for product_id in (vulnerability.get("product_status") or {}).get(group) or []:
                status.setdefault(product_id, word)
    return status


def _affected(
    products: dict[str, dict[str, Any]], statuses: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """OSV affected entries for the affected products a purl of an OSV ecosystem names, and
    every other product with a status, as it was named."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    unmapped: list[dict[str, str]] = []
    for product_id, status in sorted(statuses.items()):
        product = products.get(product_id)
        if product is None:
            continue
        helper = product.get("product_identification_helper") or {}
        purl = helper.get("purl")
        package = osv_package(purl) if purl else None
        version = PackageURL.from_string(purl).version if purl else None
        version = version or product.get("product_version")
        events = _vers_events(product["product_version_range"]) if (
            "product_version_range" in product) else None  # fmt: skip
        if status != "affected" or package is None or (version is None and events is None):
            named = {k: helper[k] for k in ("cpe", "purl") if k in helper}
            unmapped.append({"name": product["name"], "status": status, **named})
            continue
        entry = entries.setdefault((package["ecosystem"], package["name"]), {"package": package})
        if events is not None:
            entry.setdefault("ranges", []).append({"type": "ECOSYSTEM", "events": events})
        elif version is not None and version not in entry.setdefault("versions", []):
            entry["versions"].append(version)
    return list(entries.values()), unmapped


def _vers_events(vers: str) -> list[dict[str, str]] | None:
    """A `vers:` range as OSV events (`>=a|<b` → introduced a, fixed b; `<=b` → last_affected
    b; `*` → every version), or None where OSV events cannot say it (`>`, `!=`, exact versions
    mixed with bounds)."""
    if not vers.startswith("vers:") or "/" not in vers:
        return None
    constraints = vers.split("/", 1)[1].split("|")
    if constraints == ["*"]:
        return [{"introduced": "0"}]
    events: list[dict[str, str]] = []
    open_interval = False
    for constraint in constraints:
        matched = _CONSTRAINT.match(constraint.strip())
        if matched is None:
            return None
        operator, version = matched.groups()
        if operator == ">=" and not open_interval:
            events.append({"introduced": version})
            open_interval = True
        elif operator in ("<", "<="):
            if not open_interval:
                events.append({"introduced": "0"})
            events.append({"fixed" if operator == "<" else "last_affected": version})
            open_interval = False
        else:
            return None
    return events


def _references(document: dict[str, Any]) -> list[dict[str, str]]:
    found = list(document["document"].get("references") or [])
    for vulnerability in document.get("vulnerabilities") or []:
        found += vulnerability.get("references") or []
    seen: set[str] = set()
    out = []
    for reference in found:
        if reference["url"] in seen:
            continue
        seen.add(reference["url"])
        kind = "ADVISORY" if reference.get("category") == "self" else "WEB"
        out.append({"type": kind, "url": reference["url"]})
    return out


def _severity(vulnerabilities: list[dict[str, Any]]) -> list[dict[str, str]]:
    chosen: dict[str, str] = {}
    for vulnerability in vulnerabilities:
        for score in vulnerability.get("scores") or []:
            for key, kind in (("cvss_v3", "CVSS_V3"), ("cvss_v2", "CVSS_V2")):
                if key in score and kind not in chosen:
                    chosen[kind] = score[key]["vectorString"]
    return [{"type": kind, "score": vector} for kind, vector in sorted(chosen.items(),
            reverse=True)]  # fmt: skip
