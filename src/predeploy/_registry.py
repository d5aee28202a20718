"""Inspect extension entry point: importing it registers predeploy's sandbox, tasks and models."""

from . import sandbox as sandbox
from .identity import _task as _identity_task  # noqa: F401 (registers the task)
from .safeguards import _tasks as _safeguard_tasks  # noqa: F401 (registers the tasks)
from .suite import _imported_task as _imported_task
from .suite import _scripted as _scripted
from .suite import _tasks as _tasks
