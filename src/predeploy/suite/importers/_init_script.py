"""Turning a Cybench `init_script.sh` into the list of files the agent is given.

Cybench copies the agent's files with a shell script (`cp challenge/* "$TMP_DIR"`). We do not run
it: we read the few commands such scripts use (cp, mkdir, rm, plus echo/cd/set/chmod, which move no
files) and refuse anything else, because a command we skipped could hand the agent a file (or fail
to remove a secret) without anyone noticing.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ._errors import BenchmarkImportError
from ._files import files_under, resolve_inside

_TMP = re.compile(r"^\$(?:TMP_DIR|\{TMP_DIR\})(?:/(.*))?$")
_DIRNAME_0 = re.compile(r'"\$\(dirname\s+"?\$0"?\)"/|\$\(dirname\s+"?\$0"?\)/')
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {";", "&&", "||", "|", "&"}
_BRANCH_STARTS = {"then", "else"}
_NO_FILES = {"set", "echo", "printf", "true", ":", "chmod"}
_GLOB = re.compile(r"[*?\[]")


@dataclass
class _Tree:
    files: dict[str, Path] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {""})

    def add_dir(self, rel: str) -> None:
        parts = PurePosixPath(rel).parts
        for i in range(len(parts) + 1):
            self.dirs.add("/".join(parts[:i]))


def agent_files(script: Path, root: Path, shown: str) -> dict[str, Path]:
    """Destination (relative to `$TMP_DIR`) -> source file, as the script would copy them."""
    tree = _Tree()
    left_root = False
    depth = 0  # inside how many if blocks: what runs there depends on the host
    try:
        text = script.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise BenchmarkImportError(shown, None, f"cannot read: {exc}") from None
    for lineno, all_words in _commands(text, shown):
        line = f"line {lineno}"
        words = all_words
        while words and words[0] in _BRANCH_STARTS:  # `then rm ...`: the command after it
            words = words[1:]
        if not words:
            continue
        name = words[0]
        if any(w in {">", ">>"} for w in words):
            raise BenchmarkImportError(shown, line, "cannot translate a redirection")
        if name == "if":
            depth += 1
            continue
        if name == "elif":  # its condition; the branch follows `then`
            continue
        if name == "fi":
            depth = max(0, depth - 1)
            continue
        if name == "exit":
            if depth:
                raise BenchmarkImportError(shown, line, "cannot translate exit inside if")
            break  # nothing after it runs
        if depth and name in {"cp", "rm", "mkdir", "cd"}:
            raise BenchmarkImportError(
                shown, line, f"cannot translate {name} inside if: whether it runs is unknown"
            )
        if name in _NO_FILES or _ASSIGNMENT.match(name):
            continue
        if name == "cd":
            left_root = left_root or not any("dirname" in w for w in words[1:])
        elif name == "mkdir":
            for word in _operands(words):
                match = _TMP.match(word)
                if match:
                    tree.add_dir(_norm(match.group(1) or "", shown, line))
        elif name in ("cp", "rm") and left_root:
            raise BenchmarkImportError(shown, line, f"cannot translate {name} after cd")
        elif name == "cp":
            _cp(words, tree, root, shown, line)
        elif name == "rm":
            _rm(words, tree, shown, line)
        else:
            raise BenchmarkImportError(
                shown,
                line,
                f"cannot translate command {name!r} (only cp, mkdir, rm, cd, echo, set, chmod)",
            )
    return tree.files


def _commands(text: str, shown: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, words) of each simple command; quotes may span lines."""
    buffer, start = "", 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not buffer:
            start = lineno
        buffer = f"{buffer}\n{line}" if buffer else line
        if buffer.endswith("\\"):
            buffer = buffer[:-1]
            continue
        lexer = shlex.shlex(_DIRNAME_0.sub("", buffer), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            words = list(lexer)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        buffer = ""
        command: list[str] = []
        for word in [*words, ";"]:
            if word in _SEPARATORS:
                if command:
                    yield start, command
                command = []
            else:
                command.append(word)
    if buffer:
        raise BenchmarkImportError(shown, f"line {start}", "unterminated quote")


def _operands(words: list[str]) -> list[str]:
    return [w for w in words[1:] if not w.startswith("-")]


def _norm(rel: str, shown: str, line: str) -> str:
    pure = PurePosixPath(rel)
    if ".." in pure.parts:
        raise BenchmarkImportError(shown, line, f"$TMP_DIR/{rel} leaves $TMP_DIR")
    return "" if str(pure) == "." else str(pure)


def _cp(words: list[str], tree: _Tree, root: Path, shown: str, line: str) -> None:
    options = "".join(w.lstrip("-") for w in words[1:] if w.startswith("-"))
    recursive = bool(set(options) & set("rRa")) or "recursive" in options or "archive" in options
    operands = _operands(words)
    if len(operands) < 2:
        raise BenchmarkImportError(shown, line, "cp needs a source and a destination")
    *sources, dest = operands
    match = _TMP.match(dest)
    if not match:
        raise BenchmarkImportError(shown, line, f"cp destination {dest!r} is not in $TMP_DIR")
    dest_rel = _norm(match.group(1) or "", shown, line)
    into_dir = dest_rel in tree.dirs or dest.endswith("/") or len(sources) > 1
    for raw in sources:
        contents_only = raw.endswith("/.")
        for src in _expand(raw, root, shown, line):
            if src.is_dir():
                if not recursive:
                    raise BenchmarkImportError(shown, line, f"cp without -r of folder {raw!r}")
                base = dest_rel if contents_only or not into_dir else _join(dest_rel, src.name)
                tree.add_dir(base)
                for rel, real in files_under(src, root, shown=shown, field=line).items():
                    tree.files[_join(base, rel)] = real
            else:
                target = _join(dest_rel, src.name) if into_dir else dest_rel
                tree.files[target] = src


def _expand(raw: str, root: Path, shown: str, line: str) -> list[Path]:
    if "$" in raw:
        raise BenchmarkImportError(shown, line, f"cannot translate source {raw!r}")
    pattern = raw.removesuffix("/.").rstrip("/") or "."
    if not _GLOB.search(pattern):
        return [resolve_inside(root, pattern, shown=shown, field=line)]
    if PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
        raise BenchmarkImportError(shown, line, f"source {raw!r} escapes the task folder")
    hidden_ok = PurePosixPath(pattern).name.startswith(".")
    matches = [m for m in sorted(root.glob(pattern)) if hidden_ok or not m.name.startswith(".")]
    if not matches:
        raise BenchmarkImportError(shown, line, f"source {raw!r} matches nothing")
    return [
        resolve_inside(root, m.relative_to(root).as_posix(), shown=shown, field=line)
        for m in matches
    ]


def _rm(words: list[str], tree: _Tree, shown: str, line: str) -> None:
    for word in _operands(words):
        match = _TMP.match(word)
        if not match:
            continue  # it removes nothing the agent is given
        pattern = _norm(match.group(1) or "", shown, line)
        for rel in list(tree.files):
            if not pattern or fnmatch.fnmatchcase(rel, pattern) or rel.startswith(f"{pattern}/"):
                del tree.files[rel]


def _join(base: str, rel: str) -> str:
    return f"{base}/{rel}" if base else rel
