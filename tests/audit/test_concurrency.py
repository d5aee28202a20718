"""Eight writers at once (and a checkpointer) leave one unforked chain that verifies."""

from __future__ import annotations

import threading

from predeploy.accounts import Actor
from predeploy.audit import service
from predeploy.runtime import Runtime

WRITERS = 8
EVENTS_EACH = 40
CHECKPOINTS = 5


def test_concurrent_writers_leave_one_chain(runtime: Runtime) -> None:
    start = threading.Barrier(WRITERS + 1)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EVENTS_EACH):
                with runtime.unit(Actor.system(f"writer {writer}")) as ctx:
                    service.record(
                        ctx, "test.write", "writer", str(writer), {"n": n}, detail={"n": n}
                    )
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    def sign() -> None:
        try:
            start.wait()
            for _ in range(CHECKPOINTS):
                with runtime.unit(Actor.system("checkpointer")) as ctx:
                    service.checkpoint(ctx)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    threads.append(threading.Thread(target=sign))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    with runtime.unit(Actor.system("tests"), read_only=True) as ctx:
        result = service.verify(ctx, with_checkpoints=True)
        page = service.list_events(ctx, action="test.write", limit=500)
    assert result.ok, result.reason
    assert result.rows_checked == WRITERS * EVENTS_EACH + CHECKPOINTS
    assert result.checkpoints_checked == CHECKPOINTS
    per_writer = {str(w): 0 for w in range(WRITERS)}
    for event in page.items:
        per_writer[event.object.id] += 1
    assert per_writer == {str(w): EVENTS_EACH for w in range(WRITERS)}
    assert len(page.items) == WRITERS * EVENTS_EACH
