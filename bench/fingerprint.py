"""Benchmark: a model identity fingerprint (100 probes) against an endpoint with 100 ms latency.

Goal: ideal / measured >= 0.8, where ideal = probes x latency / connections (0.625 s for 100
probes, 100 ms, 16 connections): what the endpoint's latency alone would take if every
connection were busy all the time. With 16 connections, 100 probes need ceil(100 / 16) = 7 waves,
so 0.7 s (ratio 0.89) is the floor any client can reach.

The fake OpenAI server (`predeploy.testing.FakeOpenAIServer`, fixed latency, no faults, answers
that differ per probe) runs on 127.0.0.1 in its own process, so its CPU is not the client's. Each
run is one `predeploy.identity.compute_fingerprint` call exactly as `predeploy fingerprint
compute` makes it (a fresh Inspect `openai-api` model, hence fresh HTTP connections), timed from
the call to its return. The first run in the process also pays Inspect's and the OpenAI client's
lazy imports; it is shown, and not judged. A run counts only if all 100 probes were answered
with 200s and the fingerprint equals the first run's; otherwise it is BROKEN and the script
exits with status 1.

For scale, each run is followed by a bare client: the same 100 chat requests (same messages and
settings) sent with one `httpx.AsyncClient`, at most `connections` at once, no Inspect and no
OpenAI SDK. Its time shows what the endpoint and the machine allow; the gap to it is per-call
client overhead.

Usage:
    .venv/bin/python bench/fingerprint.py [--runs 5] [--latency 0.1] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from _result import emit_result

GOAL = 0.8
MODEL = "openai-api/fake/m"
API_KEY = "sk-bench-fingerprint-7Tq2"


def serve_fake(latency: float) -> None:
    """The child process: serve the fake endpoint, print its URL, then answer each line read on
    stdin with the chat requests seen since the previous line (one JSON line)."""
    from predeploy.testing import FakeOpenAIServer, Script, Turn

    # The last word of the probe, so that answers differ from probe to probe.
    script = Script(turns=(Turn(text="{word}"),), captures={"word": r"\w+(?=\W*\Z)"})
    with FakeOpenAIServer(script, latency=latency, api_key=API_KEY, log_level="critical") as fake:
        print(fake.base_url, flush=True)
        seen = 0
        for _ in sys.stdin:
            records = fake.requests[seen:]
            seen += len(records)
            chats = [r for r in records if r.path == "/v1/chat/completions"]
            print(
                json.dumps(
                    {
                        "statuses": [r.status for r in chats],
                        "spans": [[r.started, r.ended] for r in chats],
                    }
                ),
                flush=True,
            )


class FakeEndpoint:
    """The fake OpenAI server in a child process (see `serve_fake`)."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin, self._stdout = self.process.stdin, self.process.stdout
        self.base_url = self._stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError("the fake endpoint did not start")

    def traffic(self) -> dict[str, list[Any]]:
        """The chat requests since the last call."""
        self._stdin.write("\n")
        self._stdin.flush()
        return dict(json.loads(self._stdout.readline()))

    def close(self) -> None:
        self._stdin.close()
        self.process.wait(timeout=30)


def peak_in_flight(spans: list[list[float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


@dataclass
class Run:
    seconds: float
    cpu: float
    peak: int
    ok: bool
    fingerprint: str
    bare_seconds: float
    bare_cpu: float


async def bare_run(base_url: str, connections: int) -> tuple[float, float, int]:
    """The same requests from a bare httpx client; (seconds, CPU seconds, 200 answers)."""
    import httpx

    from predeploy.identity import DEFAULT_MAX_TOKENS, DEFAULT_SEED, PROBE_SET

    limiter = asyncio.Semaphore(connections)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    cpu = time.process_time()
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:

        async def ask(prompt: str) -> int:
            body = {
                "model": "m",
                "messages": [
                    {"role": "system", "content": PROBE_SET.instruction},
                    {"role": "user", "content": prompt},
                ],
                "temperature": 0,
                "seed": DEFAULT_SEED,
                "max_tokens": DEFAULT_MAX_TOKENS,
            }
            async with limiter:
                response = await client.post("/chat/completions", json=body, timeout=30)
            response.json()
            return response.status_code

        statuses = await asyncio.gather(*(ask(p.prompt) for p in PROBE_SET.probes))
    seconds = time.perf_counter() - started
    return seconds, time.process_time() - cpu, statuses.count(200)


async def one_run(base_url: str, connections: int) -> tuple[float, float, str, int]:
    from predeploy.identity import compute_fingerprint

    cpu = time.process_time()
    started = time.perf_counter()
    result = await compute_fingerprint(
        MODEL, base_url=base_url, api_key=API_KEY, connections=connections
    )
    seconds = time.perf_counter() - started
    return seconds, time.process_time() - cpu, result.fingerprint, len(result.failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Judged runs (after a first one).")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.latency)
        return 0

    from predeploy.identity import PROBE_SET

    probes = len(PROBE_SET.probes)
    ideal = probes * args.latency / args.connections
    floor = math.ceil(probes / args.connections) * args.latency
    endpoint = FakeEndpoint(args.latency)
    runs: list[Run] = []
    try:
        endpoint.traffic()
        for _ in range(args.runs + 1):
            seconds, cpu, fingerprint, failed = asyncio.run(
                one_run(endpoint.base_url, args.connections)
            )
            traffic = endpoint.traffic()
            ok = (
                failed == 0
                and traffic["statuses"] == [200] * probes
                and (not runs or fingerprint == runs[0].fingerprint)
            )
            bare_seconds, bare_cpu, answered = asyncio.run(
                bare_run(endpoint.base_url, args.connections)
            )
            ok = ok and answered == probes and endpoint.traffic()["statuses"] == [200] * probes
            runs.append(
                Run(
                    seconds,
                    cpu,
                    peak_in_flight(traffic["spans"]),
                    ok,
                    fingerprint,
                    bare_seconds,
                    bare_cpu,
                )
            )
    finally:
        endpoint.close()

    print(
        f"\nfingerprint of {probes} probes, fake endpoint at {args.latency * 1000:g} ms, "
        f"{args.connections} connections; ideal {ideal:.3f} s, floor {floor:.3f} s\n"
    )
    print(
        "| run | seconds | client CPU s | CPU ms / probe | peak in flight | ideal / seconds "
        "| bare httpx s | bare CPU s | ok |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for index, run in enumerate(runs):
        label = "first (imports)" if index == 0 else str(index)
        status = "ok" if run.ok else "BROKEN"
        print(
            f"| {label} | {run.seconds:.3f} | {run.cpu:.3f} | {run.cpu / probes * 1000:.1f} | "
            f"{run.peak} | {ideal / run.seconds:.2f} | {run.bare_seconds:.3f} | "
            f"{run.bare_cpu:.3f} | {status} |"
        )
    judged = [run.seconds for run in runs[1:]]
    median = statistics.median(judged)
    bare = statistics.median(run.bare_seconds for run in runs[1:])
    print(
        "\n| runs | median s | min s | ideal s | floor s | ratio ideal / median "
        "| bare httpx median s | its ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(judged)} | {median:.3f} | {min(judged):.3f} | {ideal:.3f} | {floor:.3f} | "
        f"{ideal / median:.2f} | {bare:.3f} | {ideal / bare:.2f} |"
    )
    ratio = ideal / median
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(
        f"\nJudged: ratio {ratio:.2f} (goal >= {GOAL}: {verdict}); floor ratio {ideal / floor:.2f}"
    )
    sound = all(run.ok for run in runs)
    emit_result(
        __file__,
        figure=f"median {median:.3f} s (ideal {ideal:.3f} s)" + ("" if sound else "; BROKEN runs"),
        goal=f"ideal / median >= {GOAL}",
        ratio=ratio,
        met=sound and ratio >= GOAL,
    )
    return 0 if sound else 1


if __name__ == "__main__":
    sys.exit(main())
