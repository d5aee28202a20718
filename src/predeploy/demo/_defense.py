"""The demo's defenders' step: real advisories in, an SBOM checked against them.

An agency analyst imports OSV records through the API (the PyPA advisory database in
`../shared/data/osv-pypa` when it is there, or the records given), which is idempotent: a second
run on the same data dir reports them unchanged. A defender then checks the CycloneDX SBOM of a
small Python web service, written into the output dir, and the check's answer is saved next to
it. Without OSV records the import is skipped, saying why, and the check still runs against the
advisories the server already has.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..client import Client
from ..errors import InvalidInput
from ..interop._osv import RECORD_SUFFIXES

DEFAULT_OSV = Path("..") / "shared" / "data" / "osv-pypa"
"""The PyPA advisory database next to the checkout, relative to the working directory."""

_MEDIA_TYPES = {".json": "application/json", ".yaml": "application/yaml",
                ".yml": "application/yaml", ".zip": "application/zip"}  # fmt: skip

SERVICE = ("model-gateway", "1.4.0")
"""The service the SBOM describes: a Flask API in front of a model, served by gunicorn."""


@dataclass(frozen=True)
class _Package:
    name: str
    version: str
    license: str
    depends_on: tuple[str, ...] = ()

    @property
    def purl(self) -> str:
        return f"pkg:pypi/{self.name}@{self.version}"


# Pinned as a service deployed in late 2022 would be: Flask 2.2.2 with Werkzeug 2.2.2 and
# certifi 2022.12.7 are affected by PyPA advisories published since; the rest are not (requests
# 2.31.0 and idna 3.7 are the very versions that fixed theirs).
_PACKAGES = (
    _Package("flask", "2.2.2", "BSD-3-Clause", ("werkzeug", "jinja2", "itsdangerous", "click")),
    _Package("werkzeug", "2.2.2", "BSD-3-Clause", ("markupsafe",)),
    _Package("jinja2", "3.1.4", "BSD-3-Clause", ("markupsafe",)),
    _Package("markupsafe", "2.1.5", "BSD-3-Clause"),
    _Package("itsdangerous", "2.1.2", "BSD-3-Clause"),
    _Package("click", "8.1.7", "BSD-3-Clause"),
    _Package(
        "requests", "2.31.0", "Apache-2.0", ("urllib3", "certifi", "idna", "charset-normalizer")
    ),
    _Package("urllib3", "2.2.2", "MIT"),
    _Package("certifi", "2022.12.7", "MPL-2.0"),
    _Package("idna", "3.7", "BSD-3-Clause"),
    _Package("charset-normalizer", "3.3.2", "MIT"),
    _Package("gunicorn", "22.0.0", "MIT", ("packaging",)),
    _Package("packaging", "24.0", "Apache-2.0"),
    # The developer's own library, with the flaw its model found (`_software_flaw`).
    _Package("frontier-tokenizer", "2.3.0", "Apache-2.0"),
)
_DIRECT = ("flask", "requests", "gunicorn", "frontier-tokenizer")


@dataclass(frozen=True)
class OsvSource:
    """Where the demo's OSV records come from (`path` None: nowhere), and why."""

    path: Path | None
    reason: str


@dataclass(frozen=True)
class AffectedComponent:
    """A component of the SBOM and the advisories that affect it (or might: undetermined)."""

    name: str
    version: str
    purl: str | None
    advisories: tuple[str, ...]


@dataclass(frozen=True)
class DefenseOutcome:
    """What the defenders' step did and produced."""

    osv_source: OsvSource
    imported: int
    """Records that became new advisories (0 when the import was skipped)."""
    updated: int
    unchanged: int
    rejected: int
    sbom: Path
    check_result: Path
    components: int
    """Components the check read from the SBOM."""
    affected: tuple[AffectedComponent, ...]
    undetermined: tuple[AffectedComponent, ...]

    def steps(self) -> list[tuple[str, str]]:
        """The step's lines for the demo's summary: the import (or why it was skipped) and the
        check."""
        path = self.osv_source.path
        if path is None:
            advisories = f"skipped: {self.osv_source.reason}"
        else:
            advisories = (
                f"{path} ({self.osv_source.reason}): {self.imported} imported, "
                f"{self.updated} updated, {self.unchanged} unchanged, {self.rejected} rejected"
            )
        found = "; ".join(f"{c.name} {c.version}: {', '.join(c.advisories)}" for c in self.affected)
        check = (
            f"{self.components} components, {len(self.affected)} affected"
            + (f" ({found})" if found else "")
            + (f", {len(self.undetermined)} undetermined" if self.undetermined else "")
        )
        return [("advisories import", advisories), ("SBOM check", check)]


def resolve_osv_source(given: Path | None, cwd: Path | None = None) -> OsvSource:
    """The OSV records to import: `given` (which must exist), else `../shared/data/osv-pypa`
    relative to `cwd` (the working directory by default) when it exists, else none."""
    if given is not None:
        if not given.exists():
            raise InvalidInput(f"{given} does not exist", field="osv")
        if not given.is_dir() and given.suffix.lower() not in _MEDIA_TYPES:
            raise InvalidInput(
                f"{given}: give a folder of OSV records, or a .json, .yaml or .zip file",
                field="osv",
            )
        return OsvSource(given, "given")
    default = (cwd or Path.cwd()) / DEFAULT_OSV
    if default.is_dir():
        return OsvSource(default.resolve(), f"found {DEFAULT_OSV}")
    return OsvSource(
        None, f"no OSV records given (--osv PATH) and {DEFAULT_OSV} does not exist here"
    )


def _upload(path: Path) -> tuple[bytes, str, str]:
    """What to send for `path`: a record file or zip as it is, a folder as a zip of its record
    files (with their paths, so that rejections name them)."""
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in RECORD_SUFFIXES:
                    bundle.write(child, child.relative_to(path).as_posix())
        return buffer.getvalue(), "application/zip", f"{path.name or 'osv'}.zip"
    return path.read_bytes(), _MEDIA_TYPES[path.suffix.lower()], path.name


def service_sbom() -> dict[str, Any]:
    """A CycloneDX 1.5 SBOM of the demo's service: its PyPI components by purl, with licences
    and the dependency graph."""
    name, version = SERVICE
    service_ref = f"pkg:pypi/{name}@{version}"
    refs = {package.name: package.purl for package in _PACKAGES}
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": uuid.uuid4().urn,
        "version": 1,
        "metadata": {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "tools": {"components": [{"type": "application", "name": "predeploy demo"}]},
            "component": {
                "type": "application",
                "bom-ref": service_ref,
                "name": name,
                "version": version,
                "purl": service_ref,
                "description": "HTTP API in front of a model, served by gunicorn",
            },
        },
        "components": [
            {
                "type": "library",
                "bom-ref": package.purl,
                "name": package.name,
                "version": package.version,
                "purl": package.purl,
                "licenses": [{"license": {"id": package.license}}],
            }
            for package in _PACKAGES
        ],
        "dependencies": [
            {"ref": service_ref, "dependsOn": [refs[d] for d in _DIRECT]},
            *(
                {"ref": package.purl, "dependsOn": [refs[d] for d in package.depends_on]}
                for package in _PACKAGES
            ),
        ],
    }


def _by_component(findings: list[dict[str, Any]]) -> tuple[AffectedComponent, ...]:
    """Findings grouped by component, in the check's order, each with its advisories sorted."""
    grouped: dict[tuple[str, str, str | None], set[str]] = {}
    for finding in findings:
        component = finding["component"]
        key = (component["name"], component["version"], component["purl"])
        grouped.setdefault(key, set()).add(finding["advisory"])
    return tuple(
        AffectedComponent(name, version, purl, tuple(sorted(advisories)))
        for (name, version, purl), advisories in grouped.items()
    )


def run_defense(
    analyst: Client, defender: Client, out_dir: Path, source: OsvSource
) -> DefenseOutcome:
    """Import the OSV records of `source` as an agency analyst (skipped without one), then check
    the service's SBOM as a defender; the SBOM and the check's answer go into `out_dir`."""
    summary: dict[str, Any] = {"imported": 0, "updated": 0, "unchanged": 0, "rejected": []}
    if source.path is not None:
        summary = analyst.import_advisories(*_upload(source.path))
    out_dir.mkdir(parents=True, exist_ok=True)
    sbom = out_dir / "sbom.cdx.json"
    sbom.write_text(json.dumps(service_sbom(), indent=2) + "\n", encoding="utf-8")
    result = defender.check(sbom.read_bytes())
    check_result = out_dir / "check.json"
    check_result.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return DefenseOutcome(
        osv_source=source,
        imported=summary["imported"],
        updated=summary["updated"],
        unchanged=summary["unchanged"],
        rejected=len(summary["rejected"]),
        sbom=sbom,
        check_result=check_result,
        components=result["components"],
        affected=_by_component(result["affected"]),
        undetermined=_by_component(result["undetermined"]),
    )
