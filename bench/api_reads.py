"""Benchmark: authenticated reads of submissions over HTTP.

Seeds N submissions (default 10,000) for one developer, serves the real app with uvicorn on
127.0.0.1, and measures:

1. throughput at saturation (wrk, if installed; else an async httpx client) of
   - a bare FastAPI endpoint returning a constant (the baseline, same server process),
   - GET /api/v1/submissions?limit=50 (authenticated, scoped, paginated list),
   - GET /api/v1/submissions/{id} (authenticated, scoped detail, random ids);
   the judged ratio is list or detail throughput / baseline throughput (goal >= 0.3);
2. latency (p50/p99) of list and detail at a fixed 200 requests/s, open loop, so a slow response
   delays no later request (goal p99 <= 50 ms).

Run: `.venv/bin/python bench/api_reads.py [--submissions 10000] [--postgres URL]`
All traffic stays on 127.0.0.1; every load phase is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _result import emit_result
from predeploy.accounts import Actor, Capacity, Role
from predeploy.accounts.schemas import OrgCreate, TokenCreate, UserCreate
from predeploy.accounts.service import bootstrap, create_org, create_user, issue_token
from predeploy.config import Settings
from predeploy.migrate import upgrade
from predeploy.runtime import Runtime
from predeploy.submissions.schemas import AccessVariantIn, ModelCreate, SubmissionCreate
from predeploy.submissions.service import create_model, create_submission

console = Console(width=130)


@dataclass
class Seeded:
    token: str
    submission_ids: list[str]


def seed(settings: Settings, count: int) -> Seeded:
    """Create the agency, one developer with a submitter, one model and `count` submissions."""
    runtime = Runtime(settings=settings)
    upgrade(settings.resolved_database_url)
    system = Actor.system("bench")
    with runtime.unit(system) as ctx:
        bootstrap(ctx, "Bench Agency", "admin@agency.bench")
        org = create_org(ctx, OrgCreate(name="Bench Labs", capacities=[Capacity.DEVELOPER]))
        user = create_user(
            ctx, UserCreate(email="dev@labs.bench", org_id=org.id, roles=[Role.SUBMITTER])
        )
        token = issue_token(ctx, TokenCreate(user_id=user.id, name="bench")).token
    from predeploy.accounts.service import authenticate

    with runtime.transaction() as session:
        developer = authenticate(session, runtime.clock, token)
    with runtime.unit(developer) as ctx:
        model = create_model(ctx, ModelCreate(name="bench-model", version="1", training_flop=3e26))
    ids: list[str] = []
    batch = 1000
    now = runtime.clock.now()
    for start in range(0, count, batch):
        with runtime.unit(developer) as ctx:
            for i in range(start, min(start + batch, count)):
                created = create_submission(
                    ctx,
                    SubmissionCreate(
                        model_id=model.id,
                        planned_release_at=now + timedelta(days=20 + i % 300),
                        access_variants=[
                            AccessVariantIn(label="production", model="openai-api/bench/m1")
                        ],
                    ),
                )
                ids.append(created.id)
    assert runtime.engine is not None
    if runtime.engine.dialect.name == "postgresql":
        # Fresh statistics, as autovacuum would gather soon after a bulk load: with none, the
        # planner expects a handful of rows and sorts all 10,000 instead of walking the index.
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    runtime.engine.dispose()
    return Seeded(token=token, submission_ids=ids)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(settings: Settings, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PREDEPLOY_DATA_DIR": str(settings.data_dir),
        "PREDEPLOY_DATABASE_URL": settings.resolved_database_url,
        "PYTHONPATH": str(Path(__file__).resolve().parent),
    }
    # predeploy's own launcher (as `predeploy serve` uses), so several workers behave as served.
    launch = (
        "from predeploy.serving import run; "
        f"run('_bench_app:make_app', factory=True, host='127.0.0.1', port={port}, "
        f"workers={workers}, log_level='warning', access_log=False)"
    )
    command = [sys.executable, "-c", launch]
    proc = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


def wrk_throughput(url: str, token: str | None, seconds: int, lua: Path | None = None) -> float:
    command = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "5s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if lua:
        command += ["-s", str(lua)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{errors.group(1)} error responses from {url}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


async def httpx_throughput(urls: list[str], token: str | None, seconds: int) -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    done = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(
        headers=headers, limits=httpx.Limits(max_connections=32)
    ) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                response = await client.get(random.choice(urls))
                response.raise_for_status()
                done += 1

        await asyncio.gather(*(worker() for _ in range(32)))
    return done / seconds


async def fixed_rate_latencies(urls: list[str], token: str, rate: int, seconds: int) -> list[float]:
    """Open loop: request i is due at start + i/rate; latency counts from when it was due."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    async with httpx.AsyncClient(
        headers=headers, limits=httpx.Limits(max_connections=100), timeout=10
    ) as client:

        async def one(due: float, url: str) -> None:
            response = await client.get(url)
            response.raise_for_status()
            latencies.append(time.perf_counter() - due)

        start = time.perf_counter()
        tasks = []
        for i in range(rate * seconds):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, random.choice(urls))))
        await asyncio.gather(*tasks)
    return latencies


def percentile(values: list[float], pct: float) -> float:
    return statistics.quantiles(values, n=1000)[int(pct * 10) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each saturation run")
    parser.add_argument("--rate", type=int, default=200, help="requests/s for the latency runs")
    parser.add_argument("--rate-seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--postgres", help="run against this PostgreSQL server URL (a fresh database is created)"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="predeploy-bench-"))
    database_url = None
    if args.postgres:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"predeploy_bench_{os.getpid()}"
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = (
            make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        )
    settings = Settings(data_dir=workdir, database_url=database_url)
    backend = ("PostgreSQL" if args.postgres else "SQLite") + f", {args.workers} worker(s)"
    console.print(f"seeding {args.submissions} submissions on {backend} ...")
    started = time.perf_counter()
    seeded = seed(settings, args.submissions)
    console.print(f"seeded in {time.perf_counter() - started:.1f} s")

    port = free_port()
    server = start_server(settings, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    list_url = f"{base}/api/v1/submissions?limit=50"
    detail_urls = [f"{base}/api/v1/submissions/{i}" for i in seeded.submission_ids]
    try:
        use_wrk = shutil.which("wrk") is not None
        if use_wrk:
            lua = workdir / "detail.lua"
            ids = ",".join(f'"{i}"' for i in seeded.submission_ids)
            lua.write_text(
                f"local ids = {{{ids}}}\n"
                "request = function()\n"
                '  return wrk.format("GET", "/api/v1/submissions/" .. ids[math.random(#ids)])\n'
                "end\n"
            )
            wrk_throughput(f"{base}/bench/constant", None, 2)  # warm-up
            constant = wrk_throughput(f"{base}/bench/constant", None, args.seconds)
            sync_constant = wrk_throughput(f"{base}/bench/sync-constant", None, args.seconds)
            listing = wrk_throughput(list_url, seeded.token, args.seconds)
            detail = wrk_throughput(f"{base}/", seeded.token, args.seconds, lua)
            generator = "wrk -t2 -c32"
        else:
            constant = asyncio.run(httpx_throughput([f"{base}/bench/constant"], None, args.seconds))
            sync_constant = asyncio.run(
                httpx_throughput([f"{base}/bench/sync-constant"], None, args.seconds)
            )
            listing = asyncio.run(httpx_throughput([list_url], seeded.token, args.seconds))
            detail = asyncio.run(httpx_throughput(detail_urls, seeded.token, args.seconds))
            generator = "httpx, 32 connections"
        list_lat = asyncio.run(
            fixed_rate_latencies([list_url], seeded.token, args.rate, args.rate_seconds)
        )
        detail_lat = asyncio.run(
            fixed_rate_latencies(detail_urls, seeded.token, args.rate, args.rate_seconds)
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        if args.postgres:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    table = Table(
        title=f"API reads: {args.submissions} submissions, {backend}, load by {generator}"
    )
    for column in (
        "endpoint",
        "req/s at saturation",
        "ratio to baseline",
        f"p50 @ {args.rate}/s",
        f"p99 @ {args.rate}/s",
    ):
        table.add_column(column, justify="right" if column != "endpoint" else "left")
    table.add_row("baseline: bare async constant endpoint", f"{constant:,.0f}", "1.00", "", "")
    table.add_row(
        "(for scale) sync constant endpoint, thread pool",
        f"{sync_constant:,.0f}",
        f"{sync_constant / constant:.2f}",
        "",
        "",
    )
    for name, rps, lat in (
        ("GET /submissions?limit=50", listing, list_lat),
        ("GET /submissions/{id}", detail, detail_lat),
    ):
        table.add_row(
            name,
            f"{rps:,.0f}",
            f"{rps / constant:.2f}",
            f"{percentile(lat, 50) * 1000:.1f} ms",
            f"{percentile(lat, 99) * 1000:.1f} ms",
        )
    console.print(table)
    worst_ratio = min(listing, detail) / constant
    worst_p99 = max(percentile(list_lat, 99), percentile(detail_lat, 99)) * 1000
    console.print(
        f"judged ratio (min of list, detail vs the async constant): {worst_ratio:.2f} (goal >= 0.3)"
    )
    console.print(f"ratio against the sync constant: {min(listing, detail) / sync_constant:.2f}")
    console.print(f"judged p99 at {args.rate}/s: {worst_p99:.1f} ms (goal <= 50 ms)")
    emit_result(
        __file__,
        figure=f"{worst_ratio:.2f} of the constant; p99 {worst_p99:.1f} ms at {args.rate}/s "
        f"({backend})",
        goal=">= 0.3 of the constant; p99 <= 50 ms",
        ratio=worst_ratio,
        met=worst_ratio >= 0.3 and worst_p99 <= 50,
    )


if __name__ == "__main__":
    main()
