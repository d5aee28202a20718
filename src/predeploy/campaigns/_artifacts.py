"""The artifact store: where each job's Inspect logs live (a local directory or an fsspec URL).

Logs hold an unreleased model's transcripts and working exploits. Local stores are kept to the
service's user: directories 0700, files 0600 (the job runner works under umask 077). Remote stores
(s3://, ...) rely on the bucket's own access policy; see docs/campaigns.md.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import fsspec

PRIVATE_DIR_MODE = 0o700


def is_local(location: str) -> bool:
    """Whether `location` is a path on this machine (no URL scheme, or file://)."""
    return "://" not in location or location.startswith("file://")


def local_path(location: str) -> Path:
    return Path(location.removeprefix("file://"))


def campaign_root(store: str, campaign_id: str) -> str:
    """Where a campaign's logs go: one folder per campaign, one sub-folder per job."""
    return f"{store}/campaigns/{campaign_id}"


def job_dir(campaign_root_location: str, job_id: str) -> str:
    return f"{campaign_root_location}/{job_id}"


def ensure_private_dir(location: str) -> None:
    """Create `location` (and its parents) readable only by this user, when it is local."""
    if not is_local(location):
        fs, path_in_store = fsspec.core.url_to_fs(location)
        fs.makedirs(path_in_store, exist_ok=True)
        return
    path = local_path(location)
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        directory.chmod(PRIVATE_DIR_MODE)
    path.chmod(PRIVATE_DIR_MODE)


def check_writable(location: str) -> None:
    """Write a small file in `location` and remove it; raises OSError if the store refuses it
    (read-only, full, no permission), before a run that could not keep its log starts."""
    fs, path = fsspec.core.url_to_fs(location)
    probe = f"{path.rstrip('/')}/.predeploy-write-probe"
    try:
        fs.pipe_file(probe, bytes(4096))
    finally:
        with contextlib.suppress(OSError):
            fs.rm_file(probe)


def store_error(store: str, exc: OSError) -> str:
    """What to tell of a failed write to the store `store` (the job's error, for the agency)."""
    parts = urlsplit(store)
    if parts.username or parts.password:
        # A URL may carry credentials: they go in no job's error.
        store = parts._replace(netloc=parts.hostname or "").geturl()
    where = f" ({exc.filename})" if exc.filename and is_local(store) else ""
    return f"the artifact store {store} cannot be written: {exc.strerror or exc}{where}"


def delete_tree(location: str) -> bool:
    """Remove everything under `location`; returns whether there was anything to remove."""
    fs, path = fsspec.core.url_to_fs(location)
    if not fs.exists(path):
        return False
    fs.rm(path, recursive=True)
    return True


def copy_tree(location: str, destination: Path) -> list[Path]:
    """Copy every file under `location` into the local directory `destination` (made 0700)."""
    fs, root = fsspec.core.url_to_fs(location)
    destination.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    copied = []
    for source in sorted(fs.find(root)):
        relative = source[len(root) :].lstrip("/")
        target = destination / relative
        target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        fs.get_file(source, str(target))
        target.chmod(0o600)
        copied.append(target)
    return copied
