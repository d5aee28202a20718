"""The machine-readable last line of every benchmark, which `bench/run_all.py` collects.

Each benchmark ends by calling `emit_result`, which prints one line
`BENCH-RESULT {"benchmark": ..., "figure": ..., "goal": ..., "ratio": ..., "met": ...}`.
`ratio` is the ratio the benchmark is judged by: its own ratio to the baseline when its goal is
a ratio (or one of its goals is), else the judged figure divided by the goal.
"""

from __future__ import annotations

import json
from pathlib import Path

PREFIX = "BENCH-RESULT "


def emit_result(script: str, *, figure: str, goal: str, ratio: float, met: bool) -> None:
    """Print the result line of the benchmark whose file is `script` (pass `__file__`)."""
    fields = {
        "benchmark": Path(script).stem,
        "figure": figure,
        "goal": goal,
        "ratio": ratio,
        "met": met,
    }
    print(PREFIX + json.dumps(fields), flush=True)
