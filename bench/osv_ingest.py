"""Benchmark: importing OSV records, against a raw parse-and-insert baseline of the same data.

Goal: predeploy's import runs at >= 0.5 of the raw baseline's records per second.

The data: the real PyPA advisory database (`../shared/data/osv-pypa`, 2,661 YAML records) when it
is there, plus `--synthetic` (100,000) records shaped like it: each a copy of a PyPA record
(round robin) with a fresh id, CVE alias and package name, and every 20th sharing an alias with
the one before (so that merging is exercised); written as JSON into one zip bundle, as OSV
ships its `all.zip` files.

Measured on a fresh database each, one after the other:

- **predeploy**: `interop.service.import_records` over `_osv.read_path` (the folder, then the zip),
  in one unit of work, as one API import runs: schema checks, alias merging, affected packages.
- **raw**: the same files read with the same parsers (YAML's base loader; `json`), and the same
  rows (one advisory per record, its ids, its affected packages) bulk-inserted with SQLAlchemy
  Core in batches of 500 into the same tables: no checks, no merging.

Backends: SQLite (a temp file, migrated with `predeploy.migrate.upgrade`) and PostgreSQL when
`--postgres URL`, `PREDEPLOY_BENCH_POSTGRES_URL` or a trust server on 127.0.0.1:5432 answers (a
throwaway database per run, dropped afterwards). Everything stays on this machine, bounded by the
record count.

Usage:
    .venv/bin/python bench/osv_ingest.py [--synthetic 100000] [--postgres URL | --sqlite-only]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from predeploy.accounts import Actor
from predeploy.config import Settings
from predeploy.db import new_id
from predeploy.defense._versions import normalise_name, version_index
from predeploy.interop import _osv
from predeploy.interop.models import AdvisoryAlias, AffectedPackage, ImportedAdvisory
from predeploy.interop.service import cvss_vector, import_records
from predeploy.migrate import upgrade
from predeploy.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _databases import postgres_server, throwaway_database
from _result import emit_result

GOAL_RATIO = 0.5
PYPA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "osv-pypa" / "vulns"
BATCH = 500


def synthetic_bundle(templates: list[dict[str, Any]], count: int, path: Path) -> None:
    """`count` records shaped like `templates`, as JSON files in a zip at `path`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for n in range(count):
            record = copy.deepcopy(templates[n % len(templates)])
            record["id"] = f"PYSEC-9999-{n}"
            shared = n - 1 if n % 20 == 19 else n
            record["aliases"] = [f"CVE-9999-{shared}"]
            for affected in record.get("affected") or []:
                affected["package"]["name"] = f"synthetic-package-{n % 5000}"
                affected["package"].pop("purl", None)
            bundle.writestr(f"PyPI/PYSEC-9999-{n}.json", json.dumps(record))


def read_templates(folder: Path) -> list[dict[str, Any]]:
    loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    return [yaml.load(p.read_bytes(), Loader=loader) for p in sorted(folder.rglob("*.yaml"))]


def sources(folder: Path | None, bundle: Path) -> list[Path]:
    return [p for p in (folder, bundle) if p is not None]


def predeploy_import(runtime: Runtime, paths: list[Path]) -> tuple[int, dict[str, int]]:
    items = (item for path in paths for item in _osv.read_path(path))
    with runtime.unit(Actor.system("bench")) as ctx:
        summary = import_records(ctx, items)
    counts = {
        "imported": summary.imported,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": len(summary.rejected),
    }
    return summary.imported + summary.updated + summary.unchanged, counts


def raw_records(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """The same files, read with the same parsers, and nothing else."""
    loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                yield yaml.load(child.read_bytes(), Loader=loader)
            continue
        with zipfile.ZipFile(path) as bundle:
            for member in sorted(bundle.infolist(), key=lambda m: m.filename):
                yield json.loads(bundle.read(member))


def raw_insert(runtime: Runtime, paths: list[Path]) -> int:
    """Parse and bulk-insert the same rows, batch by batch, in one transaction."""
    count = 0
    assert runtime.engine is not None
    now = runtime.clock.now()
    with runtime.engine.begin() as connection:
        advisories: list[dict[str, Any]] = []
        aliases: list[dict[str, Any]] = []
        packages: list[dict[str, Any]] = []
        seen_aliases: set[str] = set()

        def flush() -> None:
            if advisories:
                connection.execute(insert(ImportedAdvisory), advisories)
            if aliases:
                connection.execute(insert(AdvisoryAlias), aliases)
            if packages:
                connection.execute(insert(AffectedPackage), packages)
            advisories.clear()
            aliases.clear()
            packages.clear()

        for record in raw_records(paths):
            count += 1
            advisory_id = new_id()
            advisories.append({
                "id": advisory_id, "record_id": record["id"], "source_format": "osv",
                "tlp": "CLEAR", "summary": record.get("summary"),
                "aliases": record.get("aliases") or [], "cvss_vector": cvss_vector(record),
                "modified": _osv.timestamp(record["modified"]), "record": record,
                "contributions": {},
                "sources": {record["id"]: record["modified"]}, "created_at": now,
                "updated_at": now,
            })  # fmt: skip
            for alias in {record["id"], *(record.get("aliases") or [])} - seen_aliases:
                seen_aliases.add(alias)
                aliases.append({"alias": alias, "advisory_id": advisory_id})
            for affected in record.get("affected") or []:
                package = affected["package"]
                packages.append({
                    "id": new_id(), "advisory_id": advisory_id,
                    "ecosystem": package["ecosystem"],
                    "name": normalise_name(package["ecosystem"], package["name"]),
                    "purl": package.get("purl"), "ranges": affected.get("ranges") or [],
                    "versions": affected.get("versions") or [],
                    "version_index": version_index(package["ecosystem"],
                                                   affected.get("versions") or []),
                })  # fmt: skip
            if len(advisories) >= BATCH:
                flush()
        flush()
    return count


@contextmanager
def fresh_database(backend: str, server: str | None, workdir: Path, tag: str) -> Iterator[str]:
    if backend == "SQLite":
        yield f"sqlite:///{workdir / f'{tag}.db'}"
        return
    assert server is not None
    with throwaway_database(server) as url:
        yield url


def run_backend(
    backend: str, server: str | None, workdir: Path, paths: list[Path], records: int
) -> float:
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    for variant in ("raw", "predeploy"):
        with fresh_database(backend, server, workdir, variant) as url:
            upgrade(url)
            runtime = Runtime(settings=Settings(data_dir=workdir / variant, database_url=url))
            started = time.perf_counter()
            if variant == "raw":
                done = raw_insert(runtime, paths)
            else:
                done, counts = predeploy_import(runtime, paths)
            timings[variant] = time.perf_counter() - started
            assert done == records, (variant, done, records)
            if runtime.engine is not None:
                runtime.engine.dispose()
    rates = {variant: records / seconds for variant, seconds in timings.items()}
    ratio = rates["predeploy"] / rates["raw"]
    print(f"\n{backend}: {records:,} records; predeploy: {counts}")
    header = f"{'variant':<40}{'seconds':>10}{'records/s':>12}"
    print(header)
    print("-" * len(header))
    for variant, label in (("raw", "raw parse + bulk insert (baseline)"),
                           ("predeploy", "predeploy import (checks, merging)")):  # fmt: skip
        print(f"{label:<40}{timings[variant]:>10.1f}{rates[variant]:>12,.0f}")
    verdict = "meets" if ratio >= GOAL_RATIO else "MISSES"
    print(f"ratio predeploy / raw = {ratio:.2f} ({verdict} the goal >= {GOAL_RATIO})")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--pypa", type=Path, default=PYPA, help="folder of PyPA OSV records")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server (admin database URL)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"OSV ingest (load average {os.getloadavg()[0]:.2f} at start)")
    folder = args.pypa.resolve() if args.pypa.is_dir() else None
    if folder is None:
        print(f"{args.pypa} is not here: synthetic records are shaped like a built-in one")
    templates = read_templates(folder) if folder else [_FALLBACK_TEMPLATE]
    real = len(templates) if folder else 0
    server = None if args.sqlite_only else postgres_server(args.postgres)
    ratios = []
    backends = ["SQLite"] if server is None else ["SQLite", "PostgreSQL"]
    with tempfile.TemporaryDirectory(prefix="predeploy-bench-osv-") as tmp:
        workdir = Path(tmp)
        bundle = workdir / "synthetic-all.zip"
        started = time.perf_counter()
        synthetic_bundle(templates, args.synthetic, bundle)
        print(f"{real:,} real PyPA records + {args.synthetic:,} synthetic "
              f"({bundle.stat().st_size / 1e6:.1f} MB zip, made in "
              f"{time.perf_counter() - started:.1f} s)")  # fmt: skip
        paths = sources(folder, bundle)
        records = real + args.synthetic
        ratios.append(run_backend("SQLite", None, workdir, paths, records))
        if server is not None:
            ratios.append(run_backend("PostgreSQL", server, workdir, paths, records))
        else:
            print("\nPostgreSQL: no server (pass --postgres URL); skipped")
    worst = min(ratios)
    print(f"\nworst ratio {worst:.2f}: {'meets' if worst >= GOAL_RATIO else 'MISSES'} the goal")
    emit_result(
        __file__,
        figure=f"{worst:.2f} of raw records/s (worst of {', '.join(backends)})",
        goal=f">= {GOAL_RATIO:g} of raw",
        ratio=worst,
        met=worst >= GOAL_RATIO,
    )
    return 0 if worst >= GOAL_RATIO else 1


_FALLBACK_TEMPLATE: dict[str, Any] = {
    "id": "PYSEC-0000-0", "modified": "2024-01-01T00:00:00Z", "aliases": [],
    "details": "A synthetic record.",
    "affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "1.0"}]}],
                  "versions": ["0.1", "0.2"]}],
}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
