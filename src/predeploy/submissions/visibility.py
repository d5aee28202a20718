"""Who may see and change models and submissions.

A developer org sees only its own; agency admins and evaluators (and the system) see all; every
other caller sees none. Objects a caller may not see are NotFound, never PermissionDenied.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Role, Scope
from ..errors import NotFound, PermissionDenied
from ..runtime import Context
from .models import AiModel, Submission
from .states import Party


def sees_all(actor: Actor) -> bool:
    """Agency admins and evaluators, and the system, see every org's models and submissions."""
    return actor.is_system or actor.is_agency_staff


def own_org(actor: Actor) -> str | None:
    """The developer org whose models and submissions the caller sees (None: no org's)."""
    if actor.org_id is not None and Capacity.DEVELOPER in actor.capacities:
        return actor.org_id
    return None


def scoped(actor: Actor, query: Select[Any], org_column: Any) -> Select[Any]:
    """Narrow `query` to the rows the caller may see (`org_column` names each row's org)."""
    if sees_all(actor):
        return query
    own = own_org(actor)
    return query.where(org_column == own) if own else query.where(false())


def is_developer_writer(actor: Actor, org_id: str) -> bool:
    """A submitter or admin of the developer org `org_id`."""
    return actor.in_org(org_id) and actor.has_role(Role.SUBMITTER, Role.ADMIN)


def may_act_as(actor: Actor, party: Party, org_id: str) -> bool:
    """Whether `actor` may make the moves of `party` for a submission of `org_id`."""
    if actor.is_system:
        return True
    if party is Party.DEVELOPER:
        return is_developer_writer(actor, org_id)
    if party is Party.AGENCY:
        return actor.is_agency_staff
    return False


def require_developer_writer(actor: Actor, org_id: str, what: str) -> None:
    """Refuse anyone but the developer's submitters and admins (with a write-scope token)."""
    actor.require_scope(Scope.WRITE)
    if not (actor.is_system or is_developer_writer(actor, org_id)):
        raise PermissionDenied(f"only the developer's submitters and admins {what}")


def visible_submission(ctx: Context, submission_id: str, *, lock: bool = False) -> Submission:
    """The submission if the caller may see it; NotFound otherwise (even if it exists).

    `lock` takes the row lock before reading (PostgreSQL), so that two concurrent changes of one
    submission run one after the other and the second sees the first's outcome.
    """
    query = scoped(ctx.actor, select(Submission), Submission.org_id)
    if lock:
        query = query.with_for_update(of=Submission).execution_options(populate_existing=True)
    sub: Submission | None = ctx.session.scalar(query.where(Submission.id == submission_id))
    if sub is None:
        raise NotFound(f"submission {submission_id} not found")
    return sub


def visible_model(ctx: Context, model_id: str, field: str | None = None) -> AiModel:
    """The model if the caller may see it; NotFound (naming `field`) otherwise."""
    query = scoped(ctx.actor, select(AiModel), AiModel.org_id).where(AiModel.id == model_id)
    model: AiModel | None = ctx.session.scalar(query)
    if model is None:
        raise NotFound(f"model {model_id} not found", field=field)
    return model
