"""Benchmark: one sample's sandbox life (init + `exec true` + cleanup), 200 samples.

Goal: median <= 30 ms and <= 2x the floor, measured in the same run:

- floor: a bare `bwrap --unshare-all ... true` started the same way (asyncio subprocess), i.e.
  namespace creation itself;
- bwrap: predeploy's sandbox through Inspect's lifecycle calls (`sample_init`, `exec`,
  `sample_cleanup`): cgroup, user/PID/IPC/UTS/network namespaces, the executor as PID 1;
- local (for information): Inspect's `local` sandbox, which isolates nothing.

Usage:
    .venv/bin/python bench/sandbox.py [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from inspect_ai.util._sandbox.local import LocalSandboxEnvironment

from _result import emit_result
from predeploy.sandbox import BwrapSandboxEnvironment

GOAL_MS = 30.0
GOAL_RATIO = 2.0
BARE = [
    "bwrap",
    "--unshare-all",
    "--die-with-parent",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "true",
]


async def bare_bwrap() -> None:
    process = await asyncio.create_subprocess_exec(*BARE)
    if await process.wait() != 0:
        raise RuntimeError("bare bwrap failed")


async def predeploy_bwrap() -> None:
    environments = await BwrapSandboxEnvironment.sample_init("bench", None, {})
    result = await environments["default"].exec(["true"])
    assert result.success
    await BwrapSandboxEnvironment.sample_cleanup("bench", None, environments, False)


async def inspect_local() -> None:
    environments = await LocalSandboxEnvironment.sample_init("bench", None, {})
    result = await environments["default"].exec(["true"])
    assert result.success
    await LocalSandboxEnvironment.sample_cleanup("bench", None, environments, False)


async def measure(run: Callable[[], Awaitable[None]], samples: int) -> list[float]:
    for _ in range(5):
        await run()  # warm caches; not counted
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def main(samples: int) -> None:
    results = {}
    # Interleaved rounds, so that background load hits every variant alike.
    rounds = 4
    for name in ("floor: bare bwrap", "predeploy bwrap", "inspect local"):
        results[name] = []
    for _ in range(rounds):
        for name, run in (
            ("floor: bare bwrap", bare_bwrap),
            ("predeploy bwrap", predeploy_bwrap),
            ("inspect local", inspect_local),
        ):
            results[name] += await measure(run, samples // rounds)
    print(f"{'variant':<20} {'samples':>8} {'median ms':>10} {'p95 ms':>8}")
    for name, times in results.items():
        print(f"{name:<20} {len(times):>8} {statistics.median(times):>10.1f} {p95(times):>8.1f}")
    ours = statistics.median(results["predeploy bwrap"])
    floor = statistics.median(results["floor: bare bwrap"])
    ratio = ours / floor
    print(
        f"\njudged: median {ours:.1f} ms (goal <= {GOAL_MS:.0f} ms: "
        f"{'met' if ours <= GOAL_MS else 'NOT met'}); ratio to the floor {ratio:.2f}x "
        f"(goal <= {GOAL_RATIO:.0f}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'})"
    )
    emit_result(
        __file__,
        figure=f"median {ours:.1f} ms, {ratio:.2f}x the floor",
        goal=f"median <= {GOAL_MS:g} ms; <= {GOAL_RATIO:g}x the floor",
        ratio=ratio,
        met=ours <= GOAL_MS and ratio <= GOAL_RATIO,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    asyncio.run(main(parser.parse_args().samples))
