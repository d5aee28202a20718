"""Imports every area's tables so that `Base.metadata` is complete (for Alembic and tests)."""

from .accounts import models as accounts_models
from .audit import models as audit_models
from .campaigns import models as campaigns_models
from .clearinghouse import models as clearinghouse_models
from .db import Base
from .interop import models as interop_models
from .notifications import models as notifications_models
from .reports import models as reports_models
from .submissions import models as submissions_models
from .taxii import models as taxii_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "campaigns_models",
    "clearinghouse_models",
    "interop_models",
    "metadata",
    "notifications_models",
    "reports_models",
    "submissions_models",
    "taxii_models",
]
