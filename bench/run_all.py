"""Run every benchmark in bench/ and write their results as a table into bench/README.md.

Each benchmark (every `*.py` here not starting with `_`, this script aside) runs as its own
process with this interpreter, one after the other, its output passed through. Its judged figure
comes from the `BENCH-RESULT` line it ends with (`bench/_result.py`). The table goes between
`<!-- bench-summary:start -->` and `<!-- bench-summary:end -->` in the README (inserted after
the first heading's paragraph if those markers are missing); the rest of the README is kept, and
so are the rows of benchmarks not run this time (`--only`).

A benchmark that crashes, times out or prints no result line gets a row saying so, and this
script then exits with status 1 once all have run. A benchmark that printed its result is not
judged by its exit status: some exit 1 when they miss their goal, which their row shows.

Usage:
    .venv/bin/python bench/run_all.py [--only NAME ...] [--timeout SECONDS] [--readme PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _result import PREFIX

BENCH_DIR = Path(__file__).resolve().parent
START = "<!-- bench-summary:start -->"
END = "<!-- bench-summary:end -->"
HEADER = "| benchmark | figure | goal | ratio | met | date |"
SEPARATOR = "|---|---|---|---:|---|---|"
INTRO = (
    "Last results of `make bench` (written by `bench/run_all.py`; ratio: the ratio each "
    "benchmark is judged by, see `bench/_result.py`):"
)
GRACE_SECONDS = 10  # for a timed-out benchmark to exit on SIGTERM before it is killed


@dataclass(frozen=True)
class Row:
    """One benchmark's line of the table; `met` is None when it produced no result."""

    benchmark: str
    figure: str
    goal: str
    ratio: float | None
    met: bool | None
    date: str

    def markdown(self) -> str:
        """The table row, cells escaped."""
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        met = "error" if self.met is None else ("yes" if self.met else "no")
        cells = (self.benchmark, self.figure, self.goal, ratio, met, self.date)
        return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


@dataclass(frozen=True)
class Readme:
    """The README split around its summary block: the rows already there, by benchmark."""

    before: str
    rows: dict[str, str]
    after: str

    def render(self) -> str:
        """The whole README with the block holding `rows`, sorted by benchmark."""
        lines = [START, INTRO, "", HEADER, SEPARATOR]
        lines += [self.rows[name] for name in sorted(self.rows)]
        lines.append(END)
        return self.before + "\n".join(lines) + self.after


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def read_readme(path: Path) -> Readme:
    """Split the README at its block, or at the point where the block goes (after the first
    heading and the paragraph under it). Raises ValueError for markers out of order or alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    starts, ends = text.count(START), text.count(END)
    if starts == ends == 0:
        lines = text.splitlines(keepends=True)
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith("#")), 0)
        while at < len(lines) and not lines[at].strip():
            at += 1
        while at < len(lines) and lines[at].strip():
            at += 1
        before = "".join(lines[:at])
        if before and not before.endswith("\n"):
            before += "\n"
        rest = "".join(lines[at:])
        return Readme(before + ("\n" if before else ""), {}, "\n" + rest if rest else "\n")
    begin, end = text.find(START), text.find(END)
    if starts != 1 or ends != 1 or end < begin:
        raise ValueError(f"{path}: expected one {START} followed by one {END}")
    rows = {}
    for line in text[begin + len(START) : end].splitlines():
        name = line.split("|")[1].strip() if line.startswith("|") else ""
        if name and name != "benchmark" and not name.startswith("-"):
            rows[name] = line
    return Readme(text[:begin], rows, text[end + len(END) :])


def benchmarks(bench_dir: Path) -> dict[str, Path]:
    """The benchmark scripts in `bench_dir`, by name."""
    return {
        path.stem: path
        for path in sorted(bench_dir.glob("*.py"))
        if not path.name.startswith("_") and path.name != Path(__file__).name
    }


def _stop(process: subprocess.Popen[str]) -> None:
    """End the benchmark and whatever it started (its own session): politely, then not."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def run(name: str, script: Path, timeout: float) -> Row:
    """Run one benchmark, echoing its output, and make its row."""
    print(f"\n=== {name} ===", flush=True)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # so that a timeout can end its servers and workers too
    )
    stdout = process.stdout
    assert stdout is not None
    output: list[str] = []

    def echo() -> None:
        for line in stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            output.append(line.rstrip("\n"))

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(process)
    except BaseException:
        _stop(process)
        raise
    reader.join(timeout=GRACE_SECONDS)
    date = datetime.now(UTC).date().isoformat()
    results = [line[len(PREFIX) :] for line in output if line.startswith(PREFIX)]
    if timed_out:
        return Row(name, f"timed out after {timeout:g} s", "-", None, None, date)
    if not results:
        last = next((line.strip() for line in reversed(output) if line.strip()), "no output")
        what = "failed" if process.returncode else "no result line"
        return Row(name, f"{what} (exit {process.returncode}): {last[:160]}", "-", None, None, date)
    try:
        result = json.loads(results[-1])
        if not isinstance(result["met"], bool):
            raise TypeError("met is neither true nor false")
        return Row(
            name,
            str(result["figure"]),
            str(result["goal"]),
            float(result["ratio"]),
            result["met"],
            date,
        )
    except (ValueError, KeyError, TypeError) as error:
        return Row(name, f"unreadable result line: {error}", "-", None, None, date)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks asked for, rewrite the README's block; 1 if any produced no result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed per benchmark (1800)"
    )
    parser.add_argument("--readme", type=Path, default=BENCH_DIR / "README.md")
    parser.add_argument(
        "--bench-dir", type=Path, default=BENCH_DIR, help="folder of the benchmarks (bench/)"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    scripts = benchmarks(args.bench_dir)
    unknown = sorted(set(args.only or ()) - scripts.keys())
    if unknown:
        parser.error(
            f"--only: no benchmark named {', '.join(unknown)} (there are: {', '.join(scripts)})"
        )
    try:
        readme = read_readme(args.readme)
    except ValueError as error:
        parser.error(f"--readme: {error}")
    chosen = args.only or list(scripts)
    rows = {name: run(name, scripts[name], args.timeout) for name in sorted(set(chosen))}
    kept = {name: line for name, line in readme.rows.items() if name in scripts}
    kept.update({name: row.markdown() for name, row in rows.items()})
    args.readme.write_text(Readme(readme.before, kept, readme.after).render(), encoding="utf-8")
    failed = [name for name, row in rows.items() if row.met is None]
    print(f"\nwrote the summary of {len(rows)} benchmark(s) to {args.readme}")
    if failed:
        print(f"no result from: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
