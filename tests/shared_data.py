"""Real public data in `../shared/data`, next to the checkout: tests that need it skip without it,
except where `PREDEPLOY_REQUIRE_SHARED_DATA` is set (CI), where its absence fails them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def shared_data(relative: str) -> Path:
    """`../shared/data/<relative>`, or skip (fail in CI) when it is not on this machine."""
    path = SHARED_DATA / relative
    if not path.exists():
        if os.environ.get("PREDEPLOY_REQUIRE_SHARED_DATA"):
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is not on this machine")
    return path
