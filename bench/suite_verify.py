"""Benchmark: generate and reference-solve every family x 3 levels x 5 seeds (goal: <= 120 s).

Times, in one run:

- generation: every instance generated in this process (C builds included), cold;
- verify: `predeploy.suite.verify` on the same instances (sandbox per instance, services,
  reference solution, grading), as many at a time as there are CPUs, as `predeploy suite
  verify` does; instances come from the generation cache, so this is sandbox + solving time.

Usage:
    .venv/bin/python bench/suite_verify.py [--seeds 5] [--jobs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import defaultdict

from _result import emit_result
from predeploy.suite import LEVELS, all_families, generate_instance, verify

GOAL_SECONDS = 120.0


def main(seeds: int, jobs: int) -> None:
    targets = [
        (name, seed, level) for name in all_families() for level in LEVELS for seed in range(seeds)
    ]
    generation: dict[str, list[float]] = defaultdict(list)
    started = time.perf_counter()
    for name, seed, level in targets:
        t = time.perf_counter()
        generate_instance(name, seed, level)
        generation[name].append(time.perf_counter() - t)
    generated = time.perf_counter() - started
    verify_started = time.perf_counter()
    runs = asyncio.run(verify(targets, jobs))
    verified = time.perf_counter() - verify_started
    total = time.perf_counter() - started

    per_family: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        per_family[run.family].append(run.seconds)
    print(
        f"{'family':<16} {'instances':>9} {'solved':>7} {'gen median s':>13} {'solve median s':>15} {'solve max s':>12}"
    )
    for name in all_families():
        solved = sum(run.solved for run in runs if run.family == name)
        print(
            f"{name:<16} {len(per_family[name]):>9} {solved:>7} "
            f"{statistics.median(generation[name]):>13.3f} "
            f"{statistics.median(per_family[name]):>15.2f} {max(per_family[name]):>12.2f}"
        )
    all_times = [run.seconds for run in runs]
    unsolved = [run for run in runs if not run.solved]
    print(
        f"\n{len(runs)} instances, {len(runs) - len(unsolved)} solved, {jobs} at a time on "
        f"{os.cpu_count()} CPUs: generation {generated:.1f} s, verify {verified:.1f} s, "
        f"per-instance median {statistics.median(all_times):.2f} s"
    )
    print(
        f"judged: total {total:.1f} s against the goal of {GOAL_SECONDS:.0f} s: ratio "
        f"{total / GOAL_SECONDS:.2f} ({'met' if total <= GOAL_SECONDS else 'NOT met'})"
    )
    for run in unsolved:
        print(f"UNSOLVED {run.family} L{run.level} seed {run.seed}: {run.error or run.explanation}")
    emit_result(
        __file__,
        figure=f"total {total:.1f} s, {len(runs) - len(unsolved)}/{len(runs)} solved",
        goal=f"<= {GOAL_SECONDS:g} s",
        ratio=total / GOAL_SECONDS,
        met=total <= GOAL_SECONDS,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    arguments = parser.parse_args()
    main(arguments.seeds, arguments.jobs)
