"""Coalesced blocking calls for the job runner's hooks.

Every model call waits for a database check and every sample start for a database write. Run one
by one, each of them costs a round trip, a transaction and a thread hand-off. A `Coalesced` call
runs the blocking function in a worker thread for a *batch*: the items submitted while an earlier
run was in progress go together into the next run, and each caller returns with the result of
the first run that started after it submitted. So a caller never gets an answer read before it
asked (the gate's guarantee is the same as with one check per call), and a written item is in the
database before its caller goes on.

A run that fails (the database is unreachable) is retried, with backoff, until it succeeds: the
callers wait. For the gate this means *closed* while the database cannot be read.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger(__name__)

RETRY_FIRST_DELAY = 0.5
RETRY_MAX_DELAY = 10.0


class Coalesced(Generic[Item, Result]):
    """`await coalesced(item)`: `function(batch)` run in a thread, batching concurrent callers.

    Args:
        function: Called with the items submitted since the previous run started (never an empty
            list); one run at a time, so it may keep a connection between runs.
        on_failure: Called (on the event loop) with each exception before the run is retried.
    """

    def __init__(
        self,
        function: Callable[[list[Item]], Result],
        *,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        self._function = function
        self._on_failure = on_failure
        self._lock = anyio.Lock()
        self._tickets = itertools.count()
        self._pending: list[Item] = []
        self._last_run_started = -1
        self._last_result: Result | None = None
        self.runs = 0

    async def __call__(self, item: Item) -> Result:
        ticket = next(self._tickets)
        self._pending.append(item)
        async with self._lock:
            if self._last_run_started > ticket:
                # A run that began after this call submitted (and so took its item) has ended.
                return self._last_result  # type: ignore[return-value]
            started = next(self._tickets)
            batch, self._pending = self._pending, []
            try:
                result = await self._run(batch)
            except BaseException:
                # Cancelled: the callers still waiting need their items in the next run.
                self._pending[:0] = batch
                raise
            self._last_run_started, self._last_result = started, result
            self.runs += 1
            return result

    async def _run(self, batch: list[Item]) -> Result:
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                return await anyio.to_thread.run_sync(self._function, batch)
            except Exception as exc:  # retried: the callers must not go on without the result
                log.warning("retrying in %.1f s after: %r", delay, exc)
                if self._on_failure is not None:
                    self._on_failure(exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
