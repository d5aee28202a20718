"""The components of a software inventory: a CycloneDX JSON SBOM (`cyclonedx-python-lib`), an SPDX
JSON SBOM (`spdx-tools`), or pip requirements / `pip freeze` output.

A component needs an ecosystem, a name and a version to be checked: SBOM components name theirs
by purl; requirements are PyPI packages pinned with `==` (anything else is listed as skipped,
with the reason, never silently dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement

from ..errors import InvalidInput
from ..interop._osv import MAX_DEPTH, value_problem
from ..interop._osv_export import osv_package

MAX_COMPONENTS = 100_000


@dataclass(frozen=True)
class Component:
    """One component to check, as the inventory names it."""

    ref: str
    """Where it is in the inventory: a bom-ref, an SPDX id, or `line N`."""
    ecosystem: str
    name: str
    version: str
    purl: str | None


@dataclass(frozen=True)
class Skipped:
    """A component that cannot be checked, and why."""

    ref: str
    name: str
    reason: str


@dataclass(frozen=True)
class Inventory:
    format: str
    components: list[Component]
    skipped: list[Skipped]


def read_inventory(content: bytes) -> Inventory:
    """The components of a CycloneDX JSON or SPDX JSON SBOM, or of a requirements file."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the inventory is not UTF-8 text: {exc}", field="sbom") from exc
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"the inventory is not valid JSON: {exc}", field="sbom") from exc
        except RecursionError:
            raise InvalidInput(
                f"the inventory nests more than {MAX_DEPTH} levels deep", field="sbom"
            ) from None
        problem = value_problem(document)
        if problem is not None:
            where, message = problem
            raise InvalidInput(f"the inventory's {where or 'document'} {message}", field="sbom")
        if isinstance(document, dict) and document.get("bomFormat") == "CycloneDX":
            return _inventory("cyclonedx", _cyclonedx(document))
        if isinstance(document, dict) and "spdxVersion" in document:
            return _inventory("spdx", _spdx(document))
        raise InvalidInput(
            "a JSON inventory must be a CycloneDX (bomFormat) or SPDX (spdxVersion) SBOM",
            field="sbom",
        )
    return _inventory("requirements", _requirements(text))


def _inventory(fmt: str, items: Iterator[Component | Skipped]) -> Inventory:
    components: list[Component] = []
    skipped: list[Skipped] = []
    for item in items:
        if isinstance(item, Component):
            components.append(item)
        else:
            skipped.append(item)
        if len(components) + len(skipped) > MAX_COMPONENTS:
            raise InvalidInput(f"more than {MAX_COMPONENTS} components", field="sbom")
    return Inventory(fmt, components, skipped)


def _from_purl(ref: str, name: str, purl: str | None, version: str | None) -> Component | Skipped:
    if not purl:
        return Skipped(ref, name, "no purl: its ecosystem is unknown")
    try:
        parsed = PackageURL.from_string(purl)
        package = osv_package(purl)
    except ValueError as exc:
        return Skipped(ref, name, f"invalid purl {purl}: {exc}")
    if package is None:
        return Skipped(ref, name, f"purl type {parsed.type} has no OSV ecosystem")
    found = parsed.version or version
    if not found:
        return Skipped(ref, name, "no version")
    return Component(ref, package["ecosystem"], package["name"], found, purl)


def _cyclonedx(document: dict[str, Any]) -> Iterator[Component | Skipped]:
    from cyclonedx.model.bom import Bom

    try:
        bom = Bom.from_json(document)  # type: ignore[attr-defined]
    except Exception as exc:  # the library raises many kinds, all meaning "not a valid BOM"
        raise InvalidInput(f"not a valid CycloneDX SBOM: {exc}", field="sbom") from exc
    pending = list(bom.components)
    while pending:
        component = pending.pop(0)
        pending.extend(component.components)
        ref = str(component.bom_ref.value or component.name)
        purl = component.purl.to_string() if component.purl is not None else None
        yield _from_purl(ref, component.name, purl, component.version)


def _spdx(document: dict[str, Any]) -> Iterator[Component | Skipped]:
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser

    try:
        parsed = JsonLikeDictParser().parse(document)  # type: ignore[no-untyped-call]
    except SPDXParsingError as exc:
        messages = "; ".join(exc.get_messages())[:500]  # type: ignore[no-untyped-call]
        raise InvalidInput(f"not a valid SPDX SBOM: {messages}", field="sbom") from exc
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # The parser trusts the JSON types it expects: a wrong one fails inside it.
        raise InvalidInput(f"not a valid SPDX SBOM: {exc}", field="sbom") from exc
    for package in parsed.packages:
        purls = [r.locator for r in package.external_references if r.reference_type == "purl"]
        version = package.version if isinstance(package.version, str) else None
        yield _from_purl(package.spdx_id, package.name, purls[0] if purls else None, version)


def _requirements(text: str) -> Iterator[Component | Skipped]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        line = line.rstrip("\\").strip()
        ref = f"line {number}"
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise InvalidInput(f"{ref}: not a requirement: {exc}", field="sbom") from exc
        pins = [s for s in requirement.specifier if s.operator in ("==", "===")]
        if requirement.url or len(pins) != 1 or "*" in pins[0].version:
            yield Skipped(ref, requirement.name, "not pinned to one version with ==")
            continue
        purl = PackageURL(type="pypi", name=requirement.name, version=pins[0].version)
        yield Component(ref, "PyPI", requirement.name, pins[0].version, purl.to_string())
