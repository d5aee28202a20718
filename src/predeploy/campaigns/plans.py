"""Rules for test plans: import (versioned, de-duplicated by digest), lookup, export, estimates.

Plans are the agency's: only its admins and evaluators (and the system) see or change them.
Anyone else is refused a listing, and a named plan is NotFound for them whether or not it
exists.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..accounts.models import Scope
from ..audit.service import record
from ..canonical import digest
from ..errors import InvalidInput, NotFound, PermissionDenied, first_validation_error
from ..runtime import Context
from .models import Campaign, TestPlan
from .schemas import CampaignState, PlanDocument, PlanOut

MAX_PLAN_BYTES = 1_048_576
"""Largest plan accepted (YAML or JSON), the same as the server's default request limit."""

LEARN_FROM_RUNS = 5
"""How many of a plan version's latest completed campaigns its learned estimate averages."""

# Bounds the work of walking a parsed document: YAML aliases can make a small text expand into
# an enormous (or self-referencing) structure.
_MAX_NODES = 200_000
# Names the PostgreSQL advisory locks (two-key form) that serialise imports of one plan name.
_PLAN_LOCK_SPACE = 0x706C616E
_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


# --- who may -----------------------------------------------------------------------------------


def _may_manage(ctx: Context) -> bool:
    return ctx.actor.is_system or ctx.actor.is_agency_staff


def _require_manager(ctx: Context) -> None:
    if not _may_manage(ctx):
        raise PermissionDenied("only agency admins and evaluators manage test plans")


# --- parsing -----------------------------------------------------------------------------------


def _json_problem(value: Any) -> tuple[str, str] | None:
    """The first (path, problem) that keeps `value` from being plain, finite JSON data."""
    budget = _MAX_NODES
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        budget -= 1
        if budget < 0:
            return "", f"the plan has more than {_MAX_NODES} values (YAML aliases expand)"
        node, path = stack.pop()
        where = ".".join(path)
        if isinstance(node, dict):
            for key, child in reversed(node.items()):
                if not isinstance(key, str):
                    return where, f"the key {key!r} is not text"
                stack.append((child, (*path, key)))
        elif isinstance(node, list):
            stack.extend((child, (*path, str(i))) for i, child in reversed(list(enumerate(node))))
        elif isinstance(node, float):
            if not math.isfinite(node):
                return where, f"{node} is not a finite number"
        elif node is not None and not isinstance(node, str | int):
            return where, (
                f"a {type(node).__name__} is not plain data (text, number, true/false, null, "
                "list or mapping); quote it to make it text"
            )
    return None


def _check_plain(value: Any) -> None:
    problem = _json_problem(value)
    if problem is not None:
        path, message = problem
        raise InvalidInput(f"{path}: {message}" if path else message, field=path or None)


def validate_plan(data: object) -> PlanDocument:
    """A PlanDocument from parsed YAML or JSON; InvalidInput naming the first bad field."""
    if data is None:
        raise InvalidInput("the plan is empty")
    if not isinstance(data, dict):
        raise InvalidInput(
            "a plan is a mapping of name, estimated_duration, items, ...; "
            f"got {type(data).__name__}"
        )
    _check_plain(data)
    try:
        return PlanDocument.model_validate(data)
    except ValidationError as exc:
        raise first_validation_error(exc) from None


def _check_size(size: int) -> None:
    if size > MAX_PLAN_BYTES:
        raise InvalidInput(
            f"the plan is {size} bytes; at most {MAX_PLAN_BYTES} (1 MiB) are accepted"
        )


def load_plan_yaml(source: str) -> PlanDocument:
    """Parse and validate a plan written in YAML; errors are InvalidInput naming the field path."""
    _check_size(len(source.encode()))
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"the plan is not valid YAML{where}: {problem}") from None
    return validate_plan(data)


def load_plan_json(source: bytes) -> PlanDocument:
    """Parse and validate a plan sent as JSON; errors are InvalidInput naming the field path."""
    _check_size(len(source))
    try:
        data = json.loads(source)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the plan is not valid JSON") from None
    return validate_plan(data)


class _PlanDumper(yaml.SafeDumper):  # type: ignore[misc]
    """Writes multi-line text (system prompts) as literal blocks, which read as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PlanDumper.add_representer(str, _represent_str)


def _readable_duration(seconds: float) -> float | int | str:
    """`6h` rather than 21600.0: `parse_duration` reads either back to the same seconds."""
    if seconds.is_integer():
        for unit, size in _DURATION_UNITS:
            if seconds % size == 0:
                return f"{int(seconds) // size}{unit}"
        return int(seconds)
    return seconds


def dump_plan_yaml(document: PlanDocument) -> str:
    """The plan as YAML, leaving out fields at their defaults; it imports back to the same digest."""
    data = document.model_dump(mode="json", exclude_defaults=True)
    data["estimated_duration"] = _readable_duration(document.estimated_duration)
    rendered: str = yaml.dump(
        data,
        Dumper=_PlanDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )
    return rendered


# --- estimates ---------------------------------------------------------------------------------


def _run_source(runs: int) -> str:
    return f"learned from {runs} run{'' if runs == 1 else 's'}"


def _learned(session: Session, plan_ids: Iterable[str]) -> dict[str, list[float]]:
    """Durations in seconds of each plan's latest completed campaigns (at most LEARN_FROM_RUNS)."""
    ids = sorted(set(plan_ids))
    if not ids:
        return {}
    recent = (
        select(
            Campaign.plan_id,
            Campaign.started_at,
            Campaign.finished_at,
            func.row_number()
            .over(
                partition_by=Campaign.plan_id,
                order_by=(Campaign.finished_at.desc(), Campaign.id.desc()),
            )
            .label("rank"),
        )
        .where(
            Campaign.plan_id.in_(ids),
            Campaign.state == CampaignState.COMPLETED.value,
            Campaign.finished_at > Campaign.started_at,
        )
        .subquery()
    )
    rows = session.execute(
        select(recent.c.plan_id, recent.c.started_at, recent.c.finished_at).where(
            recent.c.rank <= LEARN_FROM_RUNS
        )
    )
    durations: dict[str, list[float]] = defaultdict(list)
    for plan_id, started, finished in rows:
        durations[plan_id].append((finished - started).total_seconds())
    return durations


def _estimate_from(plan: TestPlan, durations: Sequence[float]) -> tuple[float, str]:
    if not durations:
        return plan.declared_duration_seconds, "declared"
    return sum(durations) / len(durations), _run_source(len(durations))


def estimate(ctx: Context, plan: TestPlan) -> tuple[float, str]:
    """Seconds the plan is expected to take, and where that number comes from.

    The mean duration of the plan version's latest completed campaigns (up to
    LEARN_FROM_RUNS), as `learned from N runs`; with none, the plan's declared duration.
    """
    return _estimate_from(plan, _learned(ctx.session, [plan.id]).get(plan.id, []))


def _plan_out(plan: TestPlan, durations: Sequence[float], *, created: bool = False) -> PlanOut:
    document = PlanDocument.model_validate(plan.document)
    seconds, source = _estimate_from(plan, durations)
    return PlanOut(
        id=plan.id,
        name=plan.name,
        version=plan.version,
        description=plan.description,
        digest=plan.digest,
        items=len(document.items),
        declared_duration_seconds=plan.declared_duration_seconds,
        estimated_duration_seconds=seconds,
        estimate_source=source,
        created_at=plan.created_at,
        document=document,
        created=created,
    )


def plan_out(ctx: Context, plan: TestPlan) -> PlanOut:
    """How one stored plan version is shown, with its current estimate."""
    return _plan_out(plan, _learned(ctx.session, [plan.id]).get(plan.id, []))


def _plans_out(ctx: Context, plans: Sequence[TestPlan]) -> list[PlanOut]:
    learned = _learned(ctx.session, (p.id for p in plans))
    return [_plan_out(plan, learned.get(plan.id, [])) for plan in plans]


# --- import ------------------------------------------------------------------------------------


def _lock_name(session: Session, name: str) -> None:
    """Serialise imports of one plan name, so two at once never pick the same version.

    PostgreSQL: a transaction-scoped advisory lock on the name (a row lock would not cover a
    name that has no version yet). SQLite: every write transaction begins IMMEDIATE (see
    `predeploy.db`), which already serialises them.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": _PLAN_LOCK_SPACE, "key": key},
        )


def _latest(session: Session, name: str) -> TestPlan | None:
    query = select(TestPlan).where(TestPlan.name == name).order_by(TestPlan.version.desc())
    plan: TestPlan | None = session.scalars(query.limit(1)).first()
    return plan


def import_plan(ctx: Context, document: PlanDocument) -> PlanOut:
    """Store `document` as the next version of its name (agency staff, write scope).

    A document whose digest equals the latest version's is that version again: nothing is
    stored or recorded, and the answer has `created=False`.
    """
    _require_manager(ctx)
    ctx.actor.require_scope(Scope.WRITE)
    data = document.model_dump(mode="json")
    _check_plain(data)
    plan_digest = digest(data)
    _lock_name(ctx.session, document.name)
    latest = _latest(ctx.session, document.name)
    if latest is not None and latest.digest == plan_digest:
        return plan_out(ctx, latest)
    plan = TestPlan(
        name=document.name,
        version=latest.version + 1 if latest is not None else 1,
        description=document.description,
        document=data,
        digest=plan_digest,
        declared_duration_seconds=document.estimated_duration,
        created_by=ctx.actor.user_id,
        created_at=ctx.now(),
    )
    ctx.session.add(plan)
    ctx.session.flush()
    record(
        ctx,
        "plan.imported",
        "test_plan",
        plan.id,
        data,
        detail={"name": plan.name, "version": plan.version, "digest": plan.digest},
    )
    # A new version has no campaigns yet: its estimate is the declared one.
    return _plan_out(plan, [], created=True)


# --- reading -----------------------------------------------------------------------------------


def _not_found(ref: str) -> NotFound:
    return NotFound(f"plan {ref!r} not found", field="plan")


def get_plan(ctx: Context, ref: str) -> TestPlan:
    """The plan `ref` names: `NAME` (its latest version), `NAME@VERSION`, or a plan id."""
    if not _may_manage(ctx):
        raise _not_found(ref)
    session = ctx.session
    name, at, version = ref.rpartition("@")
    if at:
        if not version.isdecimal():
            raise InvalidInput(
                f"plan {ref!r}: a plan is named NAME, NAME@VERSION or by its id", field="plan"
            )
        plan = session.scalars(
            select(TestPlan).where(TestPlan.name == name, TestPlan.version == int(version))
        ).first()
        if plan is None:
            latest = _latest(session, name)
            if latest is None:
                raise _not_found(ref)
            raise NotFound(
                f"plan {name!r} has no version {int(version)} (latest: {latest.version})",
                field="plan",
            )
        return plan
    plan = session.get(TestPlan, ref) or _latest(session, ref)
    if plan is None:
        raise _not_found(ref)
    return plan


def show_plan(ctx: Context, ref: str) -> PlanOut:
    """One plan version (see `get_plan` for `ref`), with its current estimate."""
    return plan_out(ctx, get_plan(ctx, ref))


def list_plans(ctx: Context) -> list[PlanOut]:
    """The latest version of every plan, by name."""
    _require_manager(ctx)
    newest = (
        select(TestPlan.name, func.max(TestPlan.version).label("version"))
        .group_by(TestPlan.name)
        .subquery()
    )
    plans = ctx.session.scalars(
        select(TestPlan)
        .join(newest, (TestPlan.name == newest.c.name) & (TestPlan.version == newest.c.version))
        .order_by(TestPlan.name)
    ).all()
    return _plans_out(ctx, plans)


def versions(ctx: Context, name: str) -> list[PlanOut]:
    """Every version of the plan `name`, oldest first."""
    if not _may_manage(ctx):
        raise _not_found(name)
    plans = ctx.session.scalars(
        select(TestPlan).where(TestPlan.name == name).order_by(TestPlan.version)
    ).all()
    if not plans:
        raise _not_found(name)
    return _plans_out(ctx, plans)


def plan_yaml(plan: TestPlan) -> str:
    """A stored plan version as YAML that `load_plan_yaml` reads back to the same digest."""
    return dump_plan_yaml(PlanDocument.model_validate(plan.document))


def export_plan(ctx: Context, ref: str) -> str:
    """The plan `ref` names (see `get_plan`), as YAML."""
    return plan_yaml(get_plan(ctx, ref))
