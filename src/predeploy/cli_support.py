"""Plumbing shared by every area's CLI commands: runtime, remote client, output, errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .client import ApiError, Client
from .config import Settings
from .errors import PredeployError
from .runtime import Runtime

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server", envvar="PREDEPLOY_SERVER", help="Server URL, e.g. http://127.0.0.1:8000."
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="PREDEPLOY_TOKEN", help="API token (or set PREDEPLOY_TOKEN)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, *, field: str | None = None, code: int = 1) -> NoReturn:
    """Print an error naming the field (if any) and exit non-zero."""
    where = f" (field: {field})" if field else ""
    err_console.print(f"[red]error:[/red] {escape(message + where)}", highlight=False)
    raise typer.Exit(code)


def local_runtime() -> Runtime:
    """The server-side runtime, for admin commands that run where the database is."""
    return Runtime(settings=Settings())


def remote_client(server: str | None, token: str | None, *, public: bool = False) -> Client:
    """A client of `server`; `public` commands may run without a token (as anyone)."""
    if not server:
        fail("no server given: pass --server URL or set PREDEPLOY_SERVER", field="server")
    if not token and not public:
        fail("no token given: pass --token T or set PREDEPLOY_TOKEN", field="token")
    return Client(server, token)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn service, validation and API errors into one clear line and a non-zero exit."""
    try:
        yield
    except PredeployError as exc:
        fail(exc.message, field=exc.field)
    except ApiError as exc:
        fail(f"{exc.message} (HTTP {exc.status_code})", field=exc.field)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        fail(f"{field}: {first['msg']}", field=field)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def read_secret(env_var: str | None, from_stdin: bool, what: str) -> str | None:
    """Read a secret from an environment variable or stdin (never from the command line)."""
    if env_var and from_stdin:
        fail(f"give the {what} either with --{what}-env or --{what}-stdin, not both")
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            fail(f"environment variable {env_var} is not set or empty", field=f"{what}-env")
        return value
    if from_stdin:
        value = sys.stdin.readline().rstrip("\n")
        if not value:
            fail(f"no {what} on standard input", field=f"{what}-stdin")
        return value
    return None
