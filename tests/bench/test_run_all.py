"""`bench/run_all.py`: runs every benchmark script and writes their results into the README.

The benchmarks here are tiny fakes in a temporary folder (with a copy of the real
`bench/_result.py`, which they call as the real ones do); nothing real is measured.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
START = "<!-- bench-summary:start -->"
END = "<!-- bench-summary:end -->"
HEAD = "# Benchmarks\n\nEach benchmark prints a table.\nRun them all with `make bench`.\n"
REST = "\n## alpha\n\nHand-written notes | with a pipe.\n\n```\nbench/alpha.py\n```\n"
README = HEAD + REST

PASSING = """
from _result import emit_result
print("a table the benchmark prints")
emit_result(__file__, figure="median {value} s", goal="<= 2 s", ratio={ratio}, met=True)
"""
MISSING_GOAL = """
import sys
from _result import emit_result
emit_result(__file__, figure="p95 3.1 s", goal="p95 <= 1 s", ratio=3.1, met=False)
sys.exit(1)
"""
CRASHING = "print('setting up')\nraise RuntimeError('boom | bust')\n"
SILENT = "print('measured, but judged by nothing')\n"
SLOW = "import time\ntime.sleep(120)\n"


def make_bench(folder: Path, scripts: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    shutil.copy(BENCH / "_result.py", folder / "_result.py")
    for name, source in scripts.items():
        (folder / f"{name}.py").write_text(source)
    return folder


def run_all(bench_dir: Path, readme: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCH / "run_all.py"), "--bench-dir", str(bench_dir)]
    return subprocess.run(
        [*command, "--readme", str(readme), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows(readme: Path) -> dict[str, list[str]]:
    """The summary table's rows by benchmark, as cells."""
    text = readme.read_text()
    block = text[text.index(START) : text.index(END)]
    table = [line for line in block.splitlines() if line.startswith("| ")]
    assert table[0] == "| benchmark | figure | goal | ratio | met | date |"
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split(" | ")] for line in table[1:])
    }


def outside_block(readme: Path) -> str:
    text = readme.read_text()
    return text[: text.index(START)] + text[text.index(END) + len(END) :]


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    return make_bench(
        tmp_path / "bench",
        {
            "alpha": PASSING.format(value="1.37", ratio=0.685),
            "crashing": CRASHING,
            "silent": SILENT,
        },
    )


def test_writes_a_row_per_benchmark_after_the_first_paragraph_and_keeps_the_rest(
    tmp_path: Path, bench_dir: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)

    done = run_all(bench_dir, readme)

    assert done.returncode == 1
    assert "a table the benchmark prints" in done.stdout  # benchmarks' output is passed through
    text = readme.read_text()
    assert text.startswith(HEAD + "\n" + START)
    assert outside_block(readme) == HEAD + "\n\n" + REST
    table = rows(readme)
    assert sorted(table) == ["alpha", "crashing", "silent"]  # _result.py is no benchmark
    figure, goal, ratio, met, date = table["alpha"]
    assert (figure, goal, ratio, met) == ("median 1.37 s", "<= 2 s", "0.69", "yes")
    assert len(date) == 10 and date[4] == date[7] == "-"
    assert table["crashing"][0] == "failed (exit 1): RuntimeError: boom \\| bust"
    assert table["crashing"][3] == "error"
    assert table["silent"][0] == "no result line (exit 0): measured, but judged by nothing"
    assert table["silent"][3] == "error"


def test_running_again_replaces_the_block(tmp_path: Path, bench_dir: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    run_all(bench_dir, readme)
    (bench_dir / "alpha.py").write_text(PASSING.format(value="1.50", ratio=0.75))

    run_all(bench_dir, readme)

    text = readme.read_text()
    assert text.count(START) == text.count(END) == 1
    assert outside_block(readme) == HEAD + "\n\n" + REST
    assert rows(readme)["alpha"][:3] == ["median 1.50 s", "<= 2 s", "0.75"]
    assert len(rows(readme)) == 3


def test_only_runs_the_named_and_keeps_the_other_rows(tmp_path: Path, bench_dir: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    run_all(bench_dir, readme)
    before = rows(readme)
    (bench_dir / "alpha.py").write_text(PASSING.format(value="0.90", ratio=0.45))
    (bench_dir / "crashing.py").write_text(PASSING.format(value="9.99", ratio=5.0))

    done = run_all(bench_dir, readme, "--only", "alpha")

    assert done.returncode == 0
    after = rows(readme)
    assert after["alpha"][0] == "median 0.90 s"
    assert after["crashing"] == before["crashing"]  # not run again
    assert after["silent"] == before["silent"]


def test_a_missed_goal_is_a_result_not_a_failure(tmp_path: Path) -> None:
    bench_dir = make_bench(tmp_path / "bench", {"sbom": MISSING_GOAL})
    readme = tmp_path / "README.md"
    readme.write_text(README)

    done = run_all(bench_dir, readme)

    assert done.returncode == 0
    assert rows(readme)["sbom"][:4] == ["p95 3.1 s", "p95 <= 1 s", "3.10", "no"]


def test_a_benchmark_over_its_time_is_stopped(tmp_path: Path) -> None:
    bench_dir = make_bench(
        tmp_path / "bench", {"alpha": PASSING.format(value="1.37", ratio=0.685), "slow": SLOW}
    )
    readme = tmp_path / "README.md"
    readme.write_text(README)

    done = run_all(bench_dir, readme, "--timeout", "2")

    assert done.returncode == 1
    table = rows(readme)
    assert table["slow"][0] == "timed out after 2 s"
    assert table["slow"][3] == "error"
    assert table["alpha"][3] == "yes"


@pytest.mark.parametrize(
    ("args", "readme_text", "field"),
    [
        (["--only", "nope"], README, "--only"),
        ([], HEAD + START + "\n" + REST, "--readme"),  # a start marker without its end
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    tmp_path: Path, bench_dir: Path, args: list[str], readme_text: str, field: str
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(readme_text)

    done = run_all(bench_dir, readme, *args)

    assert done.returncode == 2
    assert field in done.stderr
    assert "=== alpha ===" not in done.stdout  # nothing ran
    assert readme.read_text() == readme_text
