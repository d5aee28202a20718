"""The artifact store on S3-compatible storage (docs/operations.md), against a local S3 server
(moto's, on 127.0.0.1): a campaign's Inspect logs are written to the bucket, listed, downloaded
and read as transcripts from it, and deleted from it by retention; nothing of them
lands in the data dir."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import s3fs  # type: ignore[import-untyped]
from moto.server import ThreadedMotoServer  # type: ignore[import-untyped]
from sqlalchemy import select

from predeploy.campaigns.models import SampleResult
from predeploy.clock import FrozenClock
from predeploy.config import Settings
from tests.campaigns.conftest import Lab
from tests.campaigns.conftest import lab as lab
from tests.campaigns.test_retention import issue_report, purge
from tests.campaigns.test_transcripts import (
    SAMPLE,
    download,
    logs,
    queued_campaign,
    transcript,
)
from tests.submissions.conftest import world as world


@dataclass
class Bucket:
    """A bucket on the local S3 server, and a client of it."""

    name: str
    fs: s3fs.S3FileSystem

    def objects(self, campaign_id: str) -> list[str]:
        self.fs.invalidate_cache()
        prefix = f"{self.name}/store/campaigns/{campaign_id}"
        return sorted(self.fs.find(prefix)) if self.fs.exists(prefix) else []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """An empty bucket on a local S3 server; its endpoint and credentials in the environment,
    where the worker's runner process (Inspect, fsspec, s3fs) finds them as on a real machine.
    Each test names its own bucket: moto keeps its S3 state in the process, across servers."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "predeploy-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "predeploy-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # fsspec reuses a filesystem per set of arguments; the endpoint, read from the environment,
    # is not one of them, and an earlier test's server is gone.
    s3fs.S3FileSystem.clear_instance_cache()
    created = Bucket(
        f"predeploy-{uuid.uuid4().hex[:12]}", s3fs.S3FileSystem(skip_instance_cache=True)
    )
    created.fs.mkdir(created.name)
    try:
        yield created
    finally:
        server.stop()
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, bucket: Bucket) -> Settings:
    store = f"s3://{bucket.name}/store"
    return Settings(data_dir=tmp_path / "data", database_url=db_url, artifact_store=store)


@pytest.mark.slow
def test_a_campaign_keeps_its_logs_in_the_bucket_and_retention_deletes_them(
    lab: Lab, bucket: Bucket, clock: FrozenClock
) -> None:
    campaign = queued_campaign(lab)
    assert lab.work() == ["succeeded"]
    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed"
    (result,) = lab.results(campaign["id"])
    assert result["score"] == 1.0

    # The logs are objects in the bucket, and nothing of them is in the data dir.
    objects = bucket.objects(campaign["id"])
    assert any(name.endswith(".eval") for name in objects)
    data_dir = lab.world.api.runtime.settings.data_dir
    assert not list(data_dir.rglob("*.eval")) and not (data_dir / "artifacts").exists()

    # Listed, downloaded and read from the bucket through the API, byte for byte.
    (job,) = done["jobs"]
    listed = logs(lab, campaign["id"]).json()
    root = f"{bucket.name}/store/campaigns/{campaign['id']}"
    assert {f"{root}/{f['job_id']}/{f['name']}" for f in listed} == set(objects)
    for entry in listed:
        content = download(lab, campaign["id"], entry["job_id"], entry["name"]).content
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert content == bucket.fs.cat_file(f"{root}/{entry['job_id']}/{entry['name']}")
    sample = transcript(lab, campaign["id"], job=job["id"], sample=SAMPLE).json()["sample"]
    assert sample["id"] == SAMPLE and sample["messages"]

    # Retention deletes the objects once the period after the report has passed.
    issue_report(lab, campaign["submission_id"])
    days = lab.world.api.runtime.settings.transcript_retention_days
    clock.advance(timedelta(days=days, seconds=1))
    assert purge(lab) == 1
    assert bucket.objects(campaign["id"]) == []
    with lab.world.api.runtime.transaction(read_only=True) as session:
        scores = session.scalars(
            select(SampleResult.score).where(SampleResult.campaign_id == campaign["id"])
        ).all()
    assert scores == [1.0]  # scores stay
