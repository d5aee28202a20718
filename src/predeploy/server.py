"""The ASGI app for `uvicorn predeploy.server:app`, configured from the environment."""

from __future__ import annotations

from .api import create_app
from .config import Settings
from .runtime import Runtime

app = create_app(Runtime(settings=Settings()))
