"""Reading task folders safely: parsed JSON/YAML with located errors, paths kept inside the task."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ValidationError

from ._errors import BenchmarkImportError, from_validation

M = TypeVar("M", bound=BaseModel)


def load_json(path: Path, shown: str) -> Any:
    """Parse a JSON file; a syntax error names the file, line and column."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkImportError(
            shown, None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, OSError) as exc:  # not UTF-8, or a number too long to convert
        raise BenchmarkImportError(shown, None, f"cannot read: {exc}") from None
    except RecursionError:
        raise BenchmarkImportError(shown, None, "invalid JSON: nested too deeply") from None


def load_yaml(path: Path, shown: str) -> Any:
    """Parse a YAML file (safe loader); a syntax error names the file and line."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BenchmarkImportError(shown, None, f"invalid YAML{where}: {problem}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise BenchmarkImportError(shown, None, f"cannot read: {exc}") from None
    except RecursionError:
        raise BenchmarkImportError(shown, None, "invalid YAML: nested too deeply") from None


def validate(model: type[M], data: Any, shown: str) -> M:
    """Validate parsed data against `model`; the first problem names the file and field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(shown, exc) from None


def resolve_inside(root: Path, rel: str, *, shown: str, field: str) -> Path:
    """The existing file or folder `rel` names inside `root`, resolved.

    Refuses absolute paths, `..` components and symlinks that lead outside `root`, so that an
    imported task can never pull in a file from elsewhere on the importing machine.
    """
    if not rel.strip():
        raise BenchmarkImportError(shown, field, "empty path")
    pure = PurePosixPath(rel)
    if pure.is_absolute():
        raise BenchmarkImportError(
            shown, field, f"absolute path {rel!r} refused: paths must stay inside the task folder"
        )
    if ".." in pure.parts:
        raise BenchmarkImportError(shown, field, f"path {rel!r} escapes the task folder")
    candidate = root / pure
    try:
        found = candidate.exists() or candidate.is_symlink()
    except (OSError, ValueError) as exc:  # a name too long, or holding a NUL
        raise BenchmarkImportError(shown, field, f"path {rel!r} refused: {exc}") from None
    if not found:
        raise BenchmarkImportError(shown, field, f"{rel!r} does not exist")
    return _checked(candidate, root, rel, shown=shown, field=field)


def files_under(
    folder: Path, root: Path, *, shown: str, field: str, skip: frozenset[str] = frozenset()
) -> dict[str, Path]:
    """Every file below `folder` (path relative to it -> resolved source), checked like above.

    Top-level entries named in `skip` are left out (e.g. a `solution/` folder).
    """
    found: dict[str, Path] = {}
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = Path(dirpath)
        rel_here = here.relative_to(folder)
        real = _checked(here, root, rel_here.as_posix(), shown=shown, field=field)
        if real in seen:  # a symlink loop inside the task: each folder once
            dirnames[:] = []
            continue
        seen.add(real)
        if here == folder:
            dirnames[:] = [d for d in dirnames if d not in skip]
            filenames = [f for f in filenames if f not in skip]
        dirnames.sort()
        for name in sorted(filenames):
            rel = (rel_here / name).as_posix()
            found[rel] = _checked(here / name, root, rel, shown=shown, field=field)
    return found


def _checked(path: Path, root: Path, rel: str, *, shown: str, field: str) -> Path:
    try:
        real = path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a loop
        raise BenchmarkImportError(shown, field, f"{rel!r} is a symlink loop") from None
    if not real.is_relative_to(root.resolve()):
        raise BenchmarkImportError(
            shown, field, f"{rel!r} is a symlink pointing outside the task folder"
        )
    if not real.exists():
        raise BenchmarkImportError(shown, field, f"{rel!r} is a dangling symlink")
    return real


def slug(name: str) -> str:
    """A name safe as one path component and as a sample id."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return cleaned or "task"
