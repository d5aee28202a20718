"""Running the ASGI app with uvicorn, in one process or several sharing one listening socket.

With several workers uvicorn binds the listening socket itself with `socket.socket(family)`,
whose protocol number is 0; asyncio only sets TCP_NODELAY on accepted sockets whose protocol is
IPPROTO_TCP, so every response then waits for the client's delayed ACK (about 40 ms a request,
measured in bench/api_reads.py). `serve` binds the socket itself, as a TCP socket, and hands it
to uvicorn's own multi-process supervisor.
"""

from __future__ import annotations

import gc
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


def freeze_startup_heap() -> None:
    """Take every object alive now (the app, and the libraries it imported: some hundreds of
    thousands) out of the garbage collector's generations. They live as long as the process,
    yet every full collection walked them all: a defender check of a 1,000-component SBOM
    spent a fifth of its time there (bench/sbom_check.py)."""
    gc.collect()
    gc.freeze()


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose accepted connections asyncio will mark TCP_NODELAY."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def run(
    app: str,
    *,
    host: str,
    port: int,
    workers: int = 1,
    factory: bool = False,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve `app` (an import string, e.g. `predeploy.server:app`) until stopped."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=factory,
        log_level=log_level,
        access_log=access_log,
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[bind_tcp(host, port)]).run()
