"""HTTP route of defender checks: `POST /api/v1/check`."""

from __future__ import annotations

from fastapi import APIRouter

from ..web_deps import CurrentContext, RawBody
from . import service
from ._sbom import read_inventory
from .schemas import CheckOut

router = APIRouter(prefix="/api/v1", tags=["defense"])

CHECK_PATH = r"^/api/v1/check$"
INVENTORY_MEDIA_TYPES = ("application/json", "text/plain")


@router.post(
    "/check",
    openapi_extra={
        "requestBody": {"required": True, "content": {t: {} for t in INVENTORY_MEDIA_TYPES}}
    },
)
def check(ctx: CurrentContext, body: RawBody) -> CheckOut:
    """Which components of an inventory are affected by the advisories you may see: send a
    CycloneDX JSON or SPDX JSON SBOM, or pip requirements / `pip freeze` output, as the body."""
    return service.check(ctx, read_inventory(body))
