"""CLI: `predeploy fingerprint compute` and `predeploy fingerprint compare`.

Both talk to a live model endpoint through Inspect and to nothing else: no settings, no database.
The API key is read from the environment variable named by `--api-key-env` (never from the
command line, where it would land in shell history and process listings) and is never printed.
Without `--api-key-env`, Inspect's provider reads its own variable (e.g. `OPENAI_API_KEY`).

`compare` exits 0 on a match, 1 on drift or a different model, and 2 when it cannot judge: an
unreadable or malformed file, no fingerprint for the variant, an unusable model or key, or an
endpoint that answered no probe at all (a wrong key or URL must not read as a substituted model).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from ..cli_support import JsonOption, console, fail, print_json
from ._fingerprint import DEFAULT_CONNECTIONS, DEFAULT_THRESHOLDS, compare, compute_fingerprint
from ._probes import PROBE_SET, ProbeSet, probe_set
from .schemas import (
    FINGERPRINT_FILE_VARIANT,
    Comparison,
    Fingerprint,
    FingerprintRef,
    IdentityDocumentError,
    Thresholds,
    fingerprints_in,
)

fingerprint_app = typer.Typer(
    help="Behavioural fingerprints of model endpoints: compute one, or check one against a report.",
    no_args_is_help=True,
)

# Exit status when the check cannot be made at all (as for a usage error), as opposed to 1:
# checked, and found to differ.
EXIT_BAD_INPUT = 2

BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", metavar="URL", help="The endpoint's base URL, if not the default."),
]
ApiKeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--api-key-env",
        metavar="VAR",
        help="Environment variable holding the API key (keys are never taken as arguments).",
    ),
]
ConnectionsOption = Annotated[
    int,
    typer.Option("--connections", min=1, max=256, help="Probes in flight at once."),
]


def _bad(message: str, option: str) -> NoReturn:
    fail(message, field=option, code=EXIT_BAD_INPUT)


def _api_key(env_var: str | None) -> str | None:
    if env_var is None:
        return None
    value = os.environ.get(env_var)
    if not value:
        _bad(f"environment variable {env_var} is not set or empty", "--api-key-env")
    return value


def _fingerprint(
    model: str,
    model_option: str,
    base_url: str | None,
    api_key: str | None,
    probes: ProbeSet,
    connections: int,
) -> Fingerprint:
    try:
        # Inspect prints notices (e.g. its hooks banner) on stdout when a model is first created;
        # stdout is reserved for this command's own output, which scripts read as JSON.
        with contextlib.redirect_stdout(sys.stderr):
            result = asyncio.run(
                compute_fingerprint(
                    model,
                    base_url=base_url,
                    api_key=api_key,
                    probe_set=probes,
                    connections=connections,
                )
            )
    except Exception as exc:  # the provider could not be set up: unknown name, missing package...
        # The message is Inspect's about the model string or its environment, not a call's;
        # the key is masked all the same, in case a provider quotes its arguments.
        reason = str(exc).replace(api_key, "***") if api_key else str(exc)
        _bad(f"cannot use model {model}: {type(exc).__name__}: {reason}", model_option)
    if len(result.failed) == len(result.answer_hashes):
        first = result.failed[0]
        _bad(
            f"every probe failed (e.g. {first}: {result.errors[first]}); "
            "check the model, --base-url and --api-key-env",
            model_option,
        )
    return result


def _failed_text(result: Fingerprint) -> str:
    if not result.failed:
        return "none"
    shown = ", ".join(f"{p} ({result.errors[p]})" for p in result.failed[:5])
    more = len(result.failed) - 5
    return shown + (f" and {more} more" if more > 0 else "")


def _key_values(rows: list[tuple[str, str]]) -> None:
    width = max(len(key) for key, _ in rows) + 2
    for key, value in rows:
        # soft_wrap: a digest stays on one line, whole, at any terminal width.
        console.print(f"{key:<{width}}{escape(value)}", soft_wrap=True, highlight=False)


@fingerprint_app.command("compute")
def compute_command(
    inspect_model: Annotated[
        str,
        typer.Argument(
            metavar="INSPECT_MODEL",
            help="Inspect model string, e.g. openai/gpt-4o or openai-api/vllm/NAME.",
            show_default=False,
        ),
    ],
    base_url: BaseUrlOption = None,
    api_key_env: ApiKeyEnvOption = None,
    connections: ConnectionsOption = DEFAULT_CONNECTIONS,
    as_json: JsonOption = False,
) -> None:
    """Fingerprint a live endpoint: exit 0, or 1 if some probes failed (they are listed)."""
    key = _api_key(api_key_env)
    result = _fingerprint(inspect_model, "INSPECT_MODEL", base_url, key, PROBE_SET, connections)
    if as_json:
        print_json(result)
    else:
        answered = len(result.answer_hashes) - len(result.failed)
        _key_values(
            [
                ("fingerprint", result.fingerprint),
                ("model", result.model),
                ("probe set", result.probe_set),
                ("probe set sha256", result.probe_set_sha256),
                ("answered", f"{answered} of {len(result.answer_hashes)} probes"),
                ("time", f"{result.seconds:.2f} s ({connections} connections)"),
                ("failed", _failed_text(result)),
            ]
        )
    if result.failed:
        raise typer.Exit(1)


def _read_document(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        _bad(f"cannot read {path}: {reason}", "REPORT_OR_FINGERPRINT")
    try:
        return json.loads(text)
    except ValueError as exc:
        _bad(f"{path} is not JSON: {exc}", "REPORT_OR_FINGERPRINT")


def _choose(refs: dict[str, FingerprintRef], variant: str | None, path: Path) -> str:
    labels = ", ".join(sorted(refs))
    if not refs:
        _bad(f"{path} holds no fingerprint", "REPORT_OR_FINGERPRINT")
    if variant is None:
        if len(refs) > 1:
            _bad(f"{path} has fingerprints of several variants ({labels}): pick one", "--variant")
        return next(iter(refs))
    if variant not in refs:
        if set(refs) == {FINGERPRINT_FILE_VARIANT}:
            _bad(f"{path} is a single fingerprint, not a report: leave out --variant", "--variant")
        _bad(f"{path} has no fingerprint for variant {variant!r} (it has: {labels})", "--variant")
    return variant


# Differing probes listed in the table; a different model differs on nearly all 100.
_MAX_ROWS = 25


def _print_comparison(
    label: str, comparison: Comparison, observed: Fingerprint, probes: ProbeSet
) -> None:
    thresholds = comparison.thresholds
    _key_values(
        [
            ("variant", label),
            ("expected", comparison.expected_fingerprint),
            ("observed", comparison.observed_fingerprint),
            (
                "similarity",
                f"{comparison.similarity:.2f} "
                f"({comparison.matching} of {comparison.total} probes agree)",
            ),
            (
                "verdict",
                f"{comparison.verdict.upper()} "
                f"(match >= {thresholds.match:g}, drift >= {thresholds.drift:g})",
            ),
            ("time", f"{observed.seconds:.2f} s"),
        ]
    )
    if not comparison.differing:
        return
    shown = comparison.differing[:_MAX_ROWS]
    title = f"Probes that differ ({len(comparison.differing)})"
    if len(shown) < len(comparison.differing):
        title += f", the first {len(shown)}: --json lists all"
    table = Table(title=title)
    for column in ("probe", "prompt", "expected", "observed", "observed answer"):
        table.add_column(column, overflow="fold")
    for difference in shown:
        prompt = probes.by_id.get(difference.probe)
        table.add_row(
            difference.probe,
            escape(prompt.prompt if prompt else "?"),
            "failed" if difference.expected_failed else (difference.expected or "-")[:12],
            "failed" if difference.observed_failed else (difference.observed or "-")[:12],
            escape(
                observed.answers.get(difference.probe, observed.errors.get(difference.probe, ""))
            ),
        )
    console.print(table)


@fingerprint_app.command("compare")
def compare_command(
    document: Annotated[
        Path,
        typer.Argument(
            metavar="REPORT_OR_FINGERPRINT.json",
            help="A report with identity records, or a `fingerprint compute --json` output.",
            show_default=False,
        ),
    ],
    access_model: Annotated[
        str,
        typer.Option(
            "--access-model",
            metavar="INSPECT_MODEL",
            help="The live endpoint to check, as an Inspect model string.",
            show_default=False,
        ),
    ],
    base_url: BaseUrlOption = None,
    api_key_env: ApiKeyEnvOption = None,
    variant: Annotated[
        str | None,
        typer.Option("--variant", metavar="LABEL", help="Which access variant of the report."),
    ] = None,
    connections: ConnectionsOption = DEFAULT_CONNECTIONS,
    match_threshold: Annotated[
        float, typer.Option("--match-threshold", help="Similarity at or above which it matches.")
    ] = DEFAULT_THRESHOLDS.match,
    drift_threshold: Annotated[
        float,
        typer.Option(
            "--drift-threshold",
            help="Similarity at or above which it is drift, not a different model.",
        ),
    ] = DEFAULT_THRESHOLDS.drift,
    as_json: JsonOption = False,
) -> None:
    """Check a live endpoint against a fingerprint: exit 0 match, 1 drift/different, 2 bad input.

    The fingerprint is a report's (its `identity` records; `--variant` picks one) or a
    `fingerprint compute --json` output; the probes are asked again with the same probe set.
    """
    try:
        thresholds = Thresholds(match=match_threshold, drift=drift_threshold)
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        _bad(message, "--match-threshold/--drift-threshold")
    try:
        refs = fingerprints_in(_read_document(document))
    except IdentityDocumentError as exc:
        _bad(f"{document}: {exc.message}", "REPORT_OR_FINGERPRINT")
    label = _choose(refs, variant, document)
    expected = refs[label]
    try:
        probes = probe_set(expected.probe_set)
    except KeyError as exc:
        _bad(f"{document}: {exc.args[0]}; a newer predeploy may know it", "REPORT_OR_FINGERPRINT")
    if probes.sha256 != expected.probe_set_sha256:
        _bad(
            f"{document}: probe set {probes.id} has sha256 {expected.probe_set_sha256} there "
            f"but {probes.sha256} here: not the same probes",
            "REPORT_OR_FINGERPRINT",
        )
    key = _api_key(api_key_env)
    observed = _fingerprint(access_model, "--access-model", base_url, key, probes, connections)
    comparison = compare(expected, observed, thresholds=thresholds)
    if as_json:
        print_json(
            {
                "variant": label,
                "model": access_model,
                "verdict": comparison.verdict,
                "similarity": comparison.similarity,
                "comparison": comparison.model_dump(mode="json"),
                "observed": observed.model_dump(mode="json"),
            }
        )
    else:
        _print_comparison(label, comparison, observed, probes)
    if comparison.verdict != "match":
        raise typer.Exit(1)
