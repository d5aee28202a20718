"""The executor (PID 1 of each sandbox): what it guarantees beyond Inspect's exec semantics."""

from __future__ import annotations

import asyncio
import errno
import re
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.util import OutputLimitExceededError

from predeploy.sandbox import (
    BwrapSandboxConfig,
    BwrapSandboxEnvironment,
    BwrapService,
    SandboxSetupError,
    _box,
)

from .conftest import StartSample, eventually, process_gone

pytestmark = pytest.mark.anyio

OPEN_FDS = (
    "import os\n"
    "def is_open(fd):\n"
    "    try:\n"
    "        os.fstat(fd)\n"
    "    except OSError:\n"
    "        return False\n"
    "    return True\n"
    "print([fd for fd in range(1024) if is_open(fd)])\n"
)


async def test_commands_inherit_only_stdin_stdout_and_stderr(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    result = await sandbox.exec(["python3", "-c", OPEN_FDS])
    assert result.stdout.strip() == "[0, 1, 2]"
    # Control: the probe does see a descriptor the command itself holds open.
    control = await sandbox.exec(["sh", "-c", f'python3 -c "{OPEN_FDS}" 7</dev/null'])
    assert control.stdout.strip() == "[0, 1, 2, 7]"


async def test_large_input_and_output_flow_at_once(sandbox: BwrapSandboxEnvironment) -> None:
    # More than a pipe holds in each direction: a loop that wrote all input before reading any
    # output would deadlock against `cat`.
    data = bytes(range(256)) * 8192
    result = await sandbox.exec(["sh", "-c", "cat; echo done >&2"], input=data.hex())
    assert result.stdout == data.hex()
    assert result.stderr == "done\n"


async def test_output_over_the_limit_keeps_the_end(sandbox: BwrapSandboxEnvironment) -> None:
    from inspect_ai.util._sandbox import limits

    token = limits._max_exec_output_size_var.set(1024)
    try:
        with pytest.raises(OutputLimitExceededError) as raised:
            await sandbox.exec(["sh", "-c", "seq 1 20000; sleep 30"], timeout=20)
    finally:
        limits._max_exec_output_size_var.reset(token)
    truncated = raised.value.truncated_output
    assert truncated is not None and len(truncated) == 1024
    # The command is killed as soon as it is over, so how far it got varies; what was read
    # is kept from the end, the front discarded.
    whole = "".join(f"{i}\n" for i in range(1, 20001))
    assert whole.find(truncated) > 0


async def test_orphans_are_reaped(sandbox: BwrapSandboxEnvironment) -> None:
    # The background sleep outlives its shell and is re-parented to PID 1, which must reap it:
    # until then it stays in /proc as a zombie.
    started = await sandbox.exec(["sh", "-c", "sleep 0.2 >/dev/null 2>&1 & echo $!"])
    orphan = started.stdout.strip()
    assert await eventually(lambda: process_gone(sandbox, orphan))
    # Control: the same probe sees a zombie whose parent does not reap it.
    control = await sandbox.exec(
        ["python3", "-c", "import os,time\npid=os.fork()\nif pid==0: os._exit(0)\n"
         "time.sleep(0.3)\nprint(os.path.exists(f'/proc/{pid}'), open(f'/proc/{pid}/stat').read())"]
    )  # fmt: skip
    assert control.stdout.startswith("True") and " Z " in control.stdout


async def test_a_signal_gives_a_negative_returncode(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sandbox.exec(["sh", "-c", "kill -9 $$"])
    assert result.returncode == -9 and not result.success


async def test_commands_get_default_signal_handling(sandbox: BwrapSandboxEnvironment) -> None:
    # SIGPIPE is the executor's to ignore, not its commands': `yes` dies quietly of it.
    result = await sandbox.exec(
        ["sh", "-c", "yes | head -c 3; grep -E '^Sig(Blk|Ign)' /proc/self/status"]
    )
    assert result.stdout.startswith("y\ny")
    fields = dict(re.findall(r"(Sig\w+):\t([0-9a-f]+)", result.stdout))
    assert int(fields["SigBlk"], 16) == 0
    # Signals 32 and 33 are glibc's own (thread cancellation, set*id): no libc call can reset
    # them, a parent of the test may ignore them, and glibc takes them over where it needs them.
    glibc_internal = (1 << 31) | (1 << 32)
    assert int(fields["SigIgn"], 16) & ~glibc_internal == 0
    assert result.stderr == ""


async def test_a_file_that_is_not_executable_raises_permission_error(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    await sandbox.write_file("script.sh", "#!/bin/sh\necho ran\n")
    with pytest.raises(PermissionError):
        await sandbox.exec(["./script.sh"])
    # Control: with the execute bit it runs.
    await sandbox.exec(["chmod", "+x", "script.sh"])
    assert (await sandbox.exec(["./script.sh"])).stdout == "ran\n"


async def test_path_is_searched_in_the_commands_environment(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    await sandbox.write_file("bin/hello-tool", "#!/bin/sh\necho hello\n")
    await sandbox.exec(["chmod", "+x", "bin/hello-tool"])
    found = await sandbox.exec(["hello-tool"], env={"PATH": "/home/agent/bin:/usr/bin"})
    assert found.stdout == "hello\n"
    # Control: without that PATH entry it is not found.
    missing = await sandbox.exec(["hello-tool"])
    assert missing.returncode == 127 and "hello-tool: command not found" in missing.stderr


async def test_a_cancelled_exec_kills_its_command(sandbox: BwrapSandboxEnvironment) -> None:
    task = asyncio.ensure_future(
        sandbox.exec(["sh", "-c", "sleep 1000 & echo $$ $! > pids.tmp; mv pids.tmp pids; wait"])
    )

    async def started() -> bool:
        return (await sandbox.exec(["test", "-e", "pids"])).success

    assert await eventually(started)
    shell, child = (await sandbox.read_file("pids")).split()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The command and what it started in the background are killed (and reaped).
    assert await eventually(lambda: process_gone(sandbox, shell))
    assert await eventually(lambda: process_gone(sandbox, child))


async def test_background_processes_keep_running_between_execs(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    # As in Docker, which Inspect's bash tool describes to models.
    started = await sandbox.exec(["sh", "-c", "nohup sleep 100 >/dev/null 2>&1 & echo $!"])
    pid = started.stdout.strip()
    state = await sandbox.exec(
        ["sh", "-c", f"cut -d' ' -f3 /proc/{pid}/stat; cat /proc/{pid}/cmdline"]
    )
    # Alive: asleep, or (on a busy machine) not yet asleep; never a zombie.
    assert state.stdout.split("\n")[0] in ("S", "R"), state
    assert "sleep" in state.stdout
    # Control: a timeout still kills what the command started.
    with pytest.raises(TimeoutError):
        await sandbox.exec(
            ["sh", "-c", "sleep 200 >/dev/null 2>&1 & echo $! > pid; sleep 30"], timeout=1
        )
    left = (await sandbox.read_file("pid")).strip()
    assert await eventually(lambda: process_gone(sandbox, left))


async def test_a_command_that_ends_in_time_does_not_time_out(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    # The command's own process exits at once; what it left holds stdout past the deadline,
    # into the window in which the executor still collects output.
    result = await sandbox.exec(["sh", "-c", "setsid sleep 120 & echo done"], timeout=1)
    assert result.stdout == "done\n"


async def test_file_names_outside_ascii_survive_errors_and_writes(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    name = "données-😀.txt"
    with pytest.raises(FileNotFoundError) as raised:
        await sandbox.read_file(name)
    assert raised.value.filename == f"/home/agent/{name}"
    await sandbox.write_file(name, "é")
    assert await sandbox.read_file(name) == "é"
    assert (await sandbox.exec(["ls"])).stdout == f"{name}\n"


async def test_a_fifo_does_not_hang_file_requests(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.exec(["mkfifo", "pipe"])
    with pytest.raises(OSError, match="not a regular file"):
        await asyncio.wait_for(sandbox.read_file("pipe"), 5)
    with pytest.raises(OSError):
        await asyncio.wait_for(sandbox.write_file("pipe", "x"), 5)
    assert (await sandbox.exec(["echo", "alive"])).stdout == "alive\n"


async def test_file_requests_touch_only_regular_files(sandbox: BwrapSandboxEnvironment) -> None:
    from inspect_ai.util._sandbox import limits

    # Symlinks the sandbox's user plants: to an endless device, and to the executor's own
    # control pipes (reading would take the host's requests, writing would forge replies).
    # /proc refuses the executor its own pipes already (it is not dumpable); its check that
    # the file is regular refuses them too, and is what refuses the device.
    links = {"zero": "/dev/zero", "null": "/dev/null", "in": "/proc/1/fd/0", "out": "/proc/1/fd/1"}
    token = limits._max_read_file_size_var.set(2**20)
    try:
        for name, target in links.items():
            await sandbox.exec(["ln", "-s", target, name])
            with pytest.raises(OSError) as read:
                await sandbox.read_file(name, text=False)
            with pytest.raises(OSError) as written:
                await sandbox.write_file(name, b'\x00\x00\x00\x0b{"id":1}')
            for raised in (read.value, written.value):
                assert raised.filename == f"/home/agent/{name}"
                if target.startswith("/dev/"):
                    assert raised.errno == errno.EINVAL
                    assert raised.strerror == "not a regular file"
                else:
                    assert raised.errno in (errno.EACCES, errno.EINVAL)
    finally:
        limits._max_read_file_size_var.reset(token)
    # The protocol is intact: requests still get their own answers.
    assert (await sandbox.exec(["echo", "alive"])).stdout == "alive\n"
    # Control: a symlink to a regular file is read and written through.
    await sandbox.write_file("real.txt", "content")
    await sandbox.exec(["ln", "-s", "/home/agent/real.txt", "link"])
    assert await sandbox.read_file("link") == "content"
    await sandbox.write_file("link", "changed")
    assert await sandbox.read_file("real.txt") == "changed"


async def test_read_file_never_returns_more_than_the_limit(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    from inspect_ai.util._sandbox import limits

    await sandbox.write_file("exact.txt", "x" * 64)
    token = limits._max_read_file_size_var.set(64)
    try:
        assert await sandbox.read_file("exact.txt") == "x" * 64  # control: at the limit
        # A file whose size says 0 but which holds more (as one that grew while it was read).
        with pytest.raises(OutputLimitExceededError):
            await sandbox.read_file("/proc/self/status")
    finally:
        limits._max_read_file_size_var.reset(token)
    assert "Name:" in await sandbox.read_file("/proc/self/status")  # control: under the limit


async def test_a_large_reply_does_not_stay_in_the_executors_memory(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    def resident_kib() -> int:
        status = Path(f"/proc/{sandbox.box.init_pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]

    await sandbox.exec(["sh", "-c", "head -c 9000000 /dev/urandom > big"])
    assert len(await sandbox.read_file("big", text=False)) == 9_000_000
    # Control: the reply did take that much at its peak (base64 of 9 MB).
    status = Path(f"/proc/{sandbox.box.init_pid}/status").read_text()
    assert int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) > 12_000  # type: ignore[union-attr]
    assert resident_kib() < 4096


async def test_waits_for_a_service_that_listens_late(start_sample: StartSample) -> None:
    late = BwrapService(
        name="late",
        command=["sh", "-c", "sleep 0.7; exec python3 -m http.server 8124 --bind 127.0.0.1"],
        port=8124,
    )
    sample = await start_sample(BwrapSandboxConfig(services=[late]))
    fetched = await sample["default"].exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                            "http://127.0.0.1:8124/"])  # fmt: skip
    assert fetched.stdout == "200"


def test_an_executor_that_does_not_compile_fails_clearly_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_box, "C_FLAGS", ("-fno-such-option",))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    compiles = []
    real_popen = subprocess.Popen

    def counting_popen(*args: Any, **kwargs: Any) -> Any:
        compiles.append(args[0][0])
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    _box._build_static_dir.cache_clear()
    try:
        with pytest.raises(SandboxSetupError, match=r"cannot compile the sandbox executor.*gcc"):
            _box.static_dir()
        # Control: that attempt did run the compiler, once per program.
        assert len(compiles) == len(_box.C_PROGRAMS)
        # The failure is remembered: the next sample fails the same way without compiling.
        with pytest.raises(SandboxSetupError, match=r"cannot compile the sandbox executor.*gcc"):
            _box.static_dir()
        assert len(compiles) == len(_box.C_PROGRAMS)
        assert list(tmp_path.iterdir()) == []  # and the failed attempt left no temp dir
    finally:
        _box._build_static_dir.cache_clear()


@pytest.mark.parametrize("program", _box.C_PROGRAMS)
def test_the_c_programs_compile_without_warnings(tmp_path: Path, program: str) -> None:
    source = resources.files("predeploy.sandbox").joinpath(f"{program}.c")
    result = subprocess.run(
        [
            "gcc",
            *_box.C_FLAGS,
            "-Wall",
            "-Wextra",
            "-Werror",
            "-o",
            str(tmp_path / "x"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
