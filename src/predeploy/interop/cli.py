"""`predeploy advisories import|export`: OSV records in, advisories out (remote, via the SDK).
Registered on the `advisories` command group by `predeploy.cli`."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Annotated

import typer

from ..cli_support import (
    ServerOption,
    TokenOption,
    console,
    err_console,
    fail,
    remote_client,
    reported_errors,
)
from ._osv import RECORD_SUFFIXES

_MEDIA_TYPES = {".json": "application/json", ".yaml": "application/yaml",
                ".yml": "application/yaml", ".zip": "application/zip"}  # fmt: skip


_SUFFIXES = {"osv": RECORD_SUFFIXES, "csaf": (".json",)}


def _upload(path: Path, fmt: str) -> tuple[bytes, str, str]:
    """What to send for `path`: a record file or zip as it is, a folder as a zip of its record
    files (with their paths, so that rejections name them)."""
    suffixes = _SUFFIXES[fmt]
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in suffixes:
                    bundle.write(child, child.relative_to(path).as_posix())
        return buffer.getvalue(), "application/zip", path.name or "folder"
    media_type = _MEDIA_TYPES.get(path.suffix.lower())
    if media_type is None or path.suffix.lower() not in (*suffixes, ".zip"):
        fail(f"{path}: give a {', '.join(suffixes)} or .zip file, or a folder", field="path")
    try:
        return path.read_bytes(), media_type, path.name
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", field="path")


def import_advisories(
    path: Annotated[Path, typer.Argument(help="A record file (JSON/YAML), a zip, or a folder.")],
    format: Annotated[str, typer.Option(help="The records' format: osv or csaf.")] = "osv",
    tlp: Annotated[str, typer.Option(help="CLEAR (public) or GREEN (the community).")] = "CLEAR",
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Import advisories (agency analysts): prints how many records were imported, updated,
    unchanged and rejected, and each rejection with its file and field; exits 1 if any was
    rejected."""
    if format not in _SUFFIXES:
        fail(f"format {format} cannot be imported: osv and csaf can", field="format")
    if not path.exists():
        fail(f"{path} does not exist", field="path")
    content, media_type, name = _upload(path, format)
    with reported_errors(), remote_client(server, token) as client:
        summary = client.import_advisories(content, media_type, name, tlp, format)
    counts = ", ".join(f"{summary[k]} {k}" for k in ("imported", "updated", "unchanged"))
    console.print(f"{counts}, {len(summary['rejected'])} rejected", highlight=False)
    for rejection in summary["rejected"]:
        where = f" ({rejection['field']})" if rejection["field"] else ""
        err_console.print(f"{rejection['file']}{where}: {rejection['message']}",
                          highlight=False, markup=False)  # fmt: skip
    if summary["rejected"]:
        raise typer.Exit(1)


def export_advisory(
    advisory: Annotated[
        str | None, typer.Argument(help="PDXA number, or an imported id or alias.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every published advisory you may see (needs --out).")
    ] = False,
    format: Annotated[str, typer.Option(help="osv, cve5, csaf, csaf_vex, stix or avid.")] = "osv",
    cve: Annotated[str | None, typer.Option(help="For cve5: which CVE's record.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write ID.FORMAT.json into this folder.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Export an advisory, or with --all every published one you may see, in a format that
    applies to it (public ones need no token)."""
    if all_ == (advisory is not None):
        fail("give an advisory id or --all, not both", field="advisory")
    if all_:
        if out is None:
            fail("--all writes one file per advisory: give a folder with --out", field="out")
        with reported_errors(), remote_client(server, token, public=True) as client:
            bundle = client.export_advisories(format)
        _write_bundle(bundle, out)
        return
    assert advisory is not None
    with reported_errors(), remote_client(server, token, public=True) as client:
        exported = client.export_advisory(advisory, format, cve)
    text = json.dumps(exported["content"], indent=2, ensure_ascii=False) + "\n"
    if out is None:
        console.out(text, end="", highlight=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{exported['id']}.{format}.json"
    target.write_text(text)
    console.print(f"wrote {target}", highlight=False)


def _write_bundle(bundle: bytes, out: Path) -> None:
    """Each file of a bulk export into `out` (by its base name only), and what was left out."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        index = json.loads(archive.read("index.json"))
        for name in archive.namelist():
            if name != "index.json":
                (out / Path(name).name).write_bytes(archive.read(name))
    console.print(f"wrote {len(index['exported'])} files to {out}", highlight=False)
    for skipped in index["skipped"]:
        err_console.print(f"skipped {skipped['id']}: {skipped['reason']}",
                          highlight=False, markup=False)  # fmt: skip
