"""The ASGI app for `uvicorn predeploy.server:app`, configured from the environment."""

from __future__ import annotations

from .api import create_app
from .config import Settings
from .runtime import Runtime
from .serving import freeze_startup_heap

app = create_app(Runtime(settings=Settings()))
freeze_startup_heap()
