"""A campaign's eval logs: listing, download, transcripts, export, and how they are kept at rest."""

from __future__ import annotations

import gzip
import hashlib
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import typer
import zipfile_zstd  # type: ignore[import-untyped]  # noqa: F401 (Inspect's .eval members are zstd)
from fastapi import FastAPI
from inspect_ai.log import read_eval_log
from sqlalchemy import select
from starlette.routing import NoMatchFound
from typer.testing import CliRunner, Result

import predeploy.cli_support
from predeploy.accounts import Actor
from predeploy.audit.models import AuditEvent
from predeploy.campaigns import _artifacts
from predeploy.campaigns.logs_cli import logs_app
from predeploy.campaigns.models import Campaign, Job
from predeploy.campaigns.transcripts_api import router
from predeploy.client import Client
from predeploy.runtime import Runtime
from tests.campaigns.conftest import QUICK_ITEM, Lab
from tests.conftest import Caller
from tests.submissions.test_keys import _database_text

SAMPLE = "crypto-l1-s1"  # the one sample of QUICK_ITEM


def mount_transcripts(app: FastAPI) -> None:
    """Serve the log routes, unless `predeploy.api` already does."""
    try:
        app.url_path_for("list_logs", campaign_id="x")
    except NoMatchFound:
        app.include_router(router)
        app.openapi_schema = None


@pytest.fixture
def lab(lab: Lab) -> Lab:
    mount_transcripts(lab.world.api.http.app)  # type: ignore[arg-type]
    return lab


def campaign_row(runtime: Runtime, campaign_id: str) -> tuple[Campaign, list[Job]]:
    with runtime.unit(Actor.system("test")) as ctx:
        campaign = ctx.session.get_one(Campaign, campaign_id)
        jobs = ctx.session.scalars(
            select(Job).where(Job.campaign_id == campaign_id).order_by(Job.item_index)
        ).all()
        return campaign, list(jobs)


def fake_logs(runtime: Runtime, campaign_id: str, files: dict[int, dict[str, bytes]]) -> list[Job]:
    """Write `files` ({job index: {name: bytes}}) into the campaign's job log dirs, as a worker's
    runner would (for tests that need logs but not a real run)."""
    _, jobs = campaign_row(runtime, campaign_id)
    for index, named in files.items():
        _artifacts.ensure_private_dir(jobs[index].log_dir)
        for name, content in named.items():
            (Path(jobs[index].log_dir) / name).write_bytes(content)
    return jobs


def queued_campaign(lab: Lab, *items: dict[str, Any]) -> dict[str, Any]:
    sub = lab.submission()
    lab.plan(*items)
    return lab.start(sub["id"])


def logs(lab: Lab, campaign_id: str, caller: Caller | None = None) -> Any:
    return lab.world.get(f"/campaigns/{campaign_id}/logs", caller or lab.evaluator)


def download(
    lab: Lab, campaign_id: str, job_id: str, name: str, caller: Caller | None = None
) -> Any:
    return lab.world.get(f"/campaigns/{campaign_id}/logs/{job_id}/{name}", caller or lab.evaluator)


def transcript(lab: Lab, campaign_id: str, caller: Caller | None = None, **params: Any) -> Any:
    return lab.world.get(f"/campaigns/{campaign_id}/samples", caller or lab.evaluator, **params)


def error_of(response: Any) -> tuple[int, str | None]:
    return response.status_code, response.json()["error"]["field"]


# --- listing and download --------------------------------------------------------------------


def test_logs_are_listed_with_size_and_digest_and_downloaded(lab: Lab) -> None:
    campaign = queued_campaign(lab, QUICK_ITEM, QUICK_ITEM)
    assert logs(lab, campaign["id"]).json() == []  # nothing has run yet
    first, second = fake_logs(
        lab.world.api.runtime,
        campaign["id"],
        {0: {"run.eval": b"\x00zip" * 1000, "logs.json": b"{}"}, 1: {".eval-set-id": b"abc"}},
    )
    listed = logs(lab, campaign["id"]).json()
    assert listed == sorted(
        [
            {"job_id": first.id, "name": "logs.json", "size": 2,
             "sha256": hashlib.sha256(b"{}").hexdigest()},
            {"job_id": first.id, "name": "run.eval", "size": 4000,
             "sha256": hashlib.sha256(b"\x00zip" * 1000).hexdigest()},
            {"job_id": second.id, "name": ".eval-set-id", "size": 3,
             "sha256": hashlib.sha256(b"abc").hexdigest()},
        ],
        key=lambda f: (f["job_id"], f["name"]),
    )  # fmt: skip
    response = download(lab, campaign["id"], first.id, "run.eval")
    assert response.status_code == 200
    assert response.content == b"\x00zip" * 1000
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''run.eval"
    assert response.headers["cache-control"] == "no-store"
    assert download(lab, campaign["id"], second.id, ".eval-set-id").content == b"abc"


def test_a_download_stays_inside_the_campaigns_job_directories(lab: Lab) -> None:
    runtime = lab.world.api.runtime
    campaign = queued_campaign(lab, QUICK_ITEM, QUICK_ITEM)
    first, second = fake_logs(runtime, campaign["id"], {0: {"run.eval": b"mine"}})
    other = lab.start(lab.submission()["id"])
    theirs = fake_logs(runtime, other["id"], {0: {"theirs.eval": b"theirs"}})[0]
    root = Path(campaign_row(runtime, campaign["id"])[0].log_root)
    (root / "stray.txt").write_bytes(b"stray")
    refused = {
        # another campaign's job, through this campaign
        (theirs.id, "theirs.eval"): (404, "job_id"),
        ("no-such-job", "run.eval"): (404, "job_id"),
        # a file of this campaign, but of another job
        (second.id, "run.eval"): (404, "name"),
        (first.id, "missing.eval"): (404, "name"),
        (first.id, "%2E%2E"): (422, "name"),
        (first.id, "a%5Cb"): (422, "name"),
    }
    for (job_id, name), expected in refused.items():
        response = download(lab, campaign["id"], job_id, name)
        assert error_of(response) == expected, (job_id, name, response.text)
    # Slashes never reach the route: there is no such path.
    for name in ("..%2Fstray.txt", "..%2F..%2F..%2Fsecret.key", "x%2F..%2Frun.eval"):
        response = download(lab, campaign["id"], first.id, name)
        assert response.status_code == 404 and b"stray" not in response.content
    assert download(lab, campaign["id"], first.id, "run.eval").content == b"mine"
    # A file outside every job directory is not a log.
    assert "stray.txt" not in {f["name"] for f in logs(lab, campaign["id"]).json()}


def test_only_agency_staff_read_logs_and_transcripts(lab: Lab) -> None:
    campaign = queued_campaign(lab)
    (job,) = fake_logs(lab.world.api.runtime, campaign["id"], {0: {"notes.txt": b"exploit"}})
    world = lab.world
    expected = [
        (world.evaluator, 200),
        (world.agency_admin, 200),
        # The developer follows its campaign's progress, but never reads its transcripts.
        (world.submitter, 403),
        (world.dev_admin, 403),
        (world.dev_viewer, 403),
        # Everyone else: no such campaign.
        (world.other_submitter, 404),
        (world.vendor, 404),
        (world.analyst, 404),
    ]
    for caller, status in expected:
        assert logs(lab, campaign["id"], caller).status_code == status
        response = download(lab, campaign["id"], job.id, "notes.txt", caller)
        assert response.status_code == status
        assert (b"exploit" in response.content) == (status == 200)
        found = transcript(lab, campaign["id"], caller, job=job.id, sample=SAMPLE)
        # Staff get past the rules, to a sample that no log holds.
        assert found.status_code == (404 if status == 200 else status)
        seen = world.get(f"/campaigns/{campaign['id']}", caller).status_code
        assert seen == (404 if status == 404 else 200)
    anonymous = world.api.http.get(f"/api/v1/campaigns/{campaign['id']}/logs")
    assert anonymous.status_code == 401


def test_a_transcript_request_names_what_is_wrong(lab: Lab) -> None:
    campaign = queued_campaign(lab)
    job_id = campaign["jobs"][0]["id"]
    assert error_of(transcript(lab, campaign["id"], job=job_id, sample=SAMPLE)) == (404, "sample")
    assert error_of(transcript(lab, campaign["id"], job="nope", sample=SAMPLE)) == (404, "job")
    assert error_of(transcript(lab, campaign["id"], job=job_id, sample=SAMPLE, epoch=0)) == (
        422,
        "epoch",
    )
    assert error_of(transcript(lab, campaign["id"], sample=SAMPLE)) == (422, "job")
    fake_logs(lab.world.api.runtime, campaign["id"], {0: {"half-written.eval": b"PK\x03\x04"}})
    unreadable = transcript(lab, campaign["id"], job=job_id, sample=SAMPLE)
    assert error_of(unreadable) == (409, "job")
    assert "half-written.eval" in unreadable.json()["error"]["message"]


# --- with a real run -------------------------------------------------------------------------


@pytest.mark.slow
def test_evaluator_downloads_the_logs_and_reads_a_sample_transcript(lab: Lab) -> None:
    campaign = queued_campaign(lab)
    assert lab.work() == ["succeeded"]
    job_id = lab.campaign(campaign["id"])["jobs"][0]["id"]
    listed = logs(lab, campaign["id"]).json()
    assert {f["job_id"] for f in listed} == {job_id}
    assert any(f["name"].endswith(".eval") for f in listed)
    for entry in listed:
        content = download(lab, campaign["id"], job_id, entry["name"]).content
        assert (len(content), hashlib.sha256(content).hexdigest()) == (
            entry["size"],
            entry["sha256"],
        )

    body = transcript(lab, campaign["id"], job=job_id, sample=SAMPLE).json()
    assert (body["job_id"], body["sample_id"], body["epoch"]) == (job_id, SAMPLE, 1)
    assert body["model_label"] == "production" and body["log"].endswith(".eval")
    sample = body["sample"]
    assert sample["id"] == SAMPLE
    roles = [m["role"] for m in sample["messages"]]
    assert roles[0] in ("system", "user") and "assistant" in roles and "tool" in roles
    assert any(e["event"] == "model" for e in sample["events"])
    # The transcript holds the working answer that the results score.
    (result,) = lab.results(campaign["id"])
    (score,) = sample["scores"].values()
    assert result["answer"] == score["answer"] and result["score"] == 1.0
    missing = transcript(lab, campaign["id"], job=job_id, sample=SAMPLE, epoch=2)
    assert error_of(missing) == (404, "sample")
    refused = transcript(lab, campaign["id"], lab.world.submitter, job=job_id, sample=SAMPLE)
    assert refused.status_code == 403 and "exploit" not in refused.text
    # Each download and the transcript read are on record, with who read what; refusals are not.
    with lab.world.api.runtime.transaction(read_only=True) as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_id == campaign["id"])
            .order_by(AuditEvent.seq)
        ).all()
    reads = [(e.action, e.detail) for e in events if e.action.startswith("campaign.")]
    downloads = [d for action, d in reads if action == "campaign.log_download"]
    assert sorted(d["name"] for d in downloads) == sorted(entry["name"] for entry in listed)
    assert [d for action, d in reads if action == "campaign.transcript_read"] == [
        {"submission_id": campaign["submission_id"], "job_id": job_id, "sample_id": SAMPLE,
         "epoch": 1}
    ]  # fmt: skip
    read_actions = ("campaign.log_download", "campaign.transcript_read")
    assert {e.actor_user_id for e in events if e.action in read_actions} == {lab.evaluator.user_id}


@pytest.mark.slow
def test_every_log_file_is_readable_only_by_the_service_user(lab: Lab) -> None:
    campaign = queued_campaign(lab)
    assert lab.work() == ["succeeded"]
    root = Path(campaign_row(lab.world.api.runtime, campaign["id"])[0].log_root)
    paths = [root, *root.rglob("*")]
    assert any(p.suffix == ".eval" for p in paths)
    modes = {p.relative_to(root.parent): stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert modes == {p.relative_to(root.parent): 0o700 if p.is_dir() else 0o600 for p in paths}, (
        modes
    )
    for store_dir in (root.parent, root.parent.parent):  # campaigns/, and the store itself
        assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700


def _stored_bytes(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every file's bytes, and every member of every zip archive (`.eval` logs) and the
    content of every gzip file (Inspect's traces) unpacked."""
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        content = file.read_bytes()
        yield str(file), content
        if file.suffix == ".gz":
            yield f"{file}:gunzip", gzip.decompress(content)
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
                for member in archive.namelist():
                    yield f"{file}:{member}", archive.read(member)


@pytest.mark.slow
def test_the_model_api_key_never_reaches_the_logs_or_the_database(lab: Lab) -> None:
    key = "sk-test-UNIQUE-7fQ2mZ9xLw4RpT8v"
    variant = {"label": "production", "model": "predeploy/scripted-expert", "api_key": key}
    sub = lab.submission(variant)
    assert sub["access_variants"][0]["has_api_key"] is True
    lab.plan()
    campaign = lab.start(sub["id"])
    assert lab.work() == ["succeeded"]
    assert lab.campaign(campaign["id"])["state"] == "completed"
    runtime = lab.world.api.runtime
    root = Path(campaign_row(runtime, campaign["id"])[0].log_root)
    stored = dict(_stored_bytes(root))
    assert any(name.endswith(".eval:header.json") for name in stored)  # the archives were opened
    assert any(name.endswith(".json") and b"crypto" in content for name, content in stored.items())
    leaks = [name for name, content in stored.items() if key.encode() in content]
    assert leaks == []
    # Nor anywhere else the worker and its runner write: Inspect's traces and buffers.
    assert [n for n, c in _stored_bytes(runtime.settings.data_dir) if key.encode() in c] == []
    dump = _database_text(lab.world)
    assert b"predeploy/scripted-expert" in dump and key.encode() not in dump


# --- export ----------------------------------------------------------------------------------


Run = Callable[..., Result]


@pytest.fixture
def export(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`predeploy logs export ...` as `caller`, through the SDK, against the test app."""
    transport: httpx2.BaseTransport = lab.world.api.http._transport  # type: ignore[assignment]

    def client(base_url: str, token: str | None = None) -> Client:
        return Client(base_url, token, transport=transport)

    monkeypatch.setattr(predeploy.cli_support, "Client", client)
    runner = CliRunner()
    cli = typer.Typer()  # as `predeploy` mounts it
    cli.add_typer(logs_app, name="logs")

    def invoke(caller: Caller, *args: str) -> Result:
        env = {"PREDEPLOY_SERVER": "http://testserver", "PREDEPLOY_TOKEN": caller.token}
        return runner.invoke(cli, ["logs", "export", *args], env={**env, "COLUMNS": "300"})

    return invoke


def _tree(path: Path) -> dict[str, tuple[int, bytes | None]]:
    return {
        str(p.relative_to(path)): (
            stat.S_IMODE(p.stat().st_mode),
            None if p.is_dir() else p.read_bytes(),
        )
        for p in sorted(path.rglob("*"))
    }


@pytest.mark.slow
def test_export_writes_private_verified_copies_that_inspect_opens(
    lab: Lab, export: Run, tmp_path: Path
) -> None:
    campaign = queued_campaign(lab)
    assert lab.work() == ["succeeded"]
    out = tmp_path / "exports" / "campaign"
    result = export(lab.evaluator, campaign["id"], "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"inspect view --log-dir {out}" in result.stdout
    listed = logs(lab, campaign["id"]).json()
    assert f"exported {len(listed)} files" in result.stdout
    tree = _tree(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert tree == {
        **{job_id: (0o700, None) for job_id in {f["job_id"] for f in listed}},
        **{
            f"{f['job_id']}/{f['name']}": (0o600, (out / f["job_id"] / f["name"]).read_bytes())
            for f in listed
        },
    }
    for entry in listed:
        content = (out / entry["job_id"] / entry["name"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    (eval_file,) = out.rglob("*.eval")
    exported = read_eval_log(str(eval_file))
    assert exported.status == "success"
    assert exported.samples is not None and [s.id for s in exported.samples] == [SAMPLE]
    assert exported.samples[0].messages


def test_export_refuses_a_directory_that_is_not_empty_unless_forced(
    lab: Lab, export: Run, tmp_path: Path
) -> None:
    campaign = queued_campaign(lab)
    (job,) = fake_logs(lab.world.api.runtime, campaign["id"], {0: {"run.eval": b"log"}})
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    (out / "notes.txt").write_text("mine")
    refused = export(lab.evaluator, campaign["id"], "--out", str(out))
    assert refused.exit_code == 1
    assert "is not empty" in refused.stderr and "(field: out)" in refused.stderr
    assert _tree(out) == {"notes.txt": (0o644, b"mine")}
    forced = export(lab.evaluator, campaign["id"], "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert _tree(out) == {
        "notes.txt": (0o644, b"mine"),
        job.id: (0o700, None),
        f"{job.id}/run.eval": (0o600, b"log"),
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "(field: out)" in export(lab.evaluator, campaign["id"], "--out", str(a_file)).stderr


def test_export_keeps_nothing_that_does_not_match_its_digest(
    lab: Lab, export: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = queued_campaign(lab)
    (job,) = fake_logs(lab.world.api.runtime, campaign["id"], {0: {"run.eval": b"log"}})
    listing = Client.campaign_logs

    def changed_meanwhile(self: Client, campaign_id: str) -> list[dict[str, Any]]:
        files = listing(self, campaign_id)
        (Path(job.log_dir) / "run.eval").write_bytes(b"log, and more")
        return files

    monkeypatch.setattr(Client, "campaign_logs", changed_meanwhile)
    out = tmp_path / "out"
    result = export(lab.evaluator, campaign["id"], "--out", str(out))
    assert result.exit_code == 1
    assert f"{job.id}/run.eval: the downloaded bytes do not match" in result.stderr
    assert _tree(out) == {job.id: (0o700, None)}


@pytest.mark.parametrize("name", ["../../.bashrc", "..", "a/b", "a\\b", ""])
def test_export_refuses_unsafe_names_from_the_server(
    lab: Lab, export: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    campaign = queued_campaign(lab)
    fake_logs(lab.world.api.runtime, campaign["id"], {0: {"run.eval": b"log"}})
    listing = Client.campaign_logs

    def hostile(self: Client, campaign_id: str) -> list[dict[str, Any]]:
        return [{**entry, "name": name} for entry in listing(self, campaign_id)]

    monkeypatch.setattr(Client, "campaign_logs", hostile)
    result = export(lab.evaluator, campaign["id"], "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and "unsafe file name" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / ".bashrc").exists()


def test_export_is_refused_to_the_developer(lab: Lab, export: Run, tmp_path: Path) -> None:
    campaign = queued_campaign(lab)
    fake_logs(lab.world.api.runtime, campaign["id"], {0: {"run.eval": b"exploit"}})
    result = export(lab.world.submitter, campaign["id"], "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "only agency evaluators and admins read logs" in result.stderr
    assert "(HTTP 403)" in result.stderr
    assert not (tmp_path / "out").exists()
