"""Who may see what in the clearinghouse: TLP 2.0, explicit recipients, embargoes and consent.

Every read of a shared object goes through `vuln_audience` (a SQL condition), so an object a
caller may not see never leaves the database for that caller; `explain_vuln` evaluates the same
rules in Python to say why an org or user can or cannot see one, and the tests hold the two equal.

The rules, for a caller acting for org O as user U:

| who | sees |
|---|---|
| the server, agency admins and analysts | everything |
| members of the reporting org | their own reports, at every label |
| if the reporter consented to sharing: a named user recipient | the object, at every label |
| if the reporter consented to sharing: anyone else | by label, below |

| label | audience |
|---|---|
| RED | named user recipients only |
| AMBER+STRICT | recipient orgs |
| AMBER | recipient orgs and the clients each of them has declared |
| GREEN | recipient orgs; after the embargo, every participant org of the community |
| CLEAR | recipient orgs; after the embargo, everyone |

An embargo holds until `embargo_end`; an object without one is not embargoed.

A report taken into a coordinated-disclosure case is also seen (if the reporter consented to
sharing) by the vendor orgs invited to that case, who coordinate it. A case itself (`case_audience`)
is seen by the agency's admins and analysts and by its participants: the invited vendor orgs and
the orgs that reported its linked vulnerability reports.

Advisories imported from other databases (`imported_audience`) carry no recipients: a CLEAR
one is public, a GREEN one goes to the community's participant orgs.

An advisory (`advisory_audience`) is seen by the agency's admins and analysts from its first
draft; by everyone else only once published, and then by its case's participants and by the label
rules above applied to the advisory's own label and recipients (a CLEAR advisory is public: the
caller needs no token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Membership, Organization, Role
from ..interop.models import ImportedAdvisory
from .models import (
    Advisory,
    Case,
    CaseVendor,
    OrgClient,
    SharedObject,
    ShareRecipient,
    Tlp,
    Vuln,
)

_SEE_ALL_ROLES = frozenset({Role.ADMIN, Role.ANALYST})


def sees_everything(actor: Actor) -> bool:
    """The server itself, and the agency's admins and analysts (who run the clearinghouse)."""
    return actor.is_system or (actor.is_agency and bool(actor.roles & _SEE_ALL_ROLES))


def in_community(actor: Actor) -> bool:
    """Whether the caller's org is a participant of the clearinghouse community (TLP:GREEN)."""
    return Capacity.PARTICIPANT in actor.capacities


def _shared_with(
    actor: Actor,
    object_type: SharedObject,
    object_id: SQLColumnExpression[str],
    tlp: SQLColumnExpression[str],
    embargo_end: SQLColumnExpression[datetime | None],
    now: datetime,
) -> ColumnElement[bool]:
    """The TLP and recipient rules for a labelled object, as a SQL condition."""
    recipients = select(ShareRecipient.id).where(
        ShareRecipient.object_type == object_type.value, ShareRecipient.object_id == object_id
    )
    named_user = (
        exists(recipients.where(ShareRecipient.user_id == actor.user_id))
        if actor.user_id
        else false()
    )
    if actor.org_id is None:
        org_recipient: ColumnElement[bool] = false()
        client_of_recipient: ColumnElement[bool] = false()
    else:
        org_recipient = exists(recipients.where(ShareRecipient.org_id == actor.org_id))
        client_of_recipient = exists(
            recipients.join(OrgClient, OrgClient.org_id == ShareRecipient.org_id).where(
                OrgClient.client_org_id == actor.org_id
            )
        )
    released = or_(embargo_end.is_(None), embargo_end <= now)
    community = released if in_community(actor) else false()
    # A recipient org sees the object at every label but RED; written once, so that PostgreSQL
    # builds its subplan once, not once per label.
    return or_(
        named_user,
        and_(tlp != Tlp.RED.value, org_recipient),
        and_(tlp == Tlp.AMBER.value, client_of_recipient),
        and_(tlp == Tlp.GREEN.value, community),
        and_(tlp == Tlp.CLEAR.value, released),
    )


def vuln_audience(actor: Actor, now: datetime) -> ColumnElement[bool]:
    """The vulnerability reports `actor` may see, as a condition on `Vuln`."""
    if sees_everything(actor):
        return true()
    own = Vuln.reporter_org_id == actor.org_id if actor.org_id else false()
    shared = _shared_with(actor, SharedObject.VULN, Vuln.id, Vuln.tlp, Vuln.embargo_end, now)
    return or_(own, and_(Vuln.share_consent.is_(True), or_(shared, _invited_to_case(actor))))


def _invited_to_case(actor: Actor) -> ColumnElement[bool]:
    """The report is linked to a case that the caller's org is an invited vendor of."""
    if actor.org_id is None:
        return false()
    return exists(
        select(CaseVendor.id).where(
            CaseVendor.case_id == Vuln.case_id, CaseVendor.org_id == actor.org_id
        )
    )


def case_audience(actor: Actor) -> ColumnElement[bool]:
    """The cases `actor` may see, as a condition on `Case`: the agency's admins and analysts see
    every case; its invited vendor orgs and the reporting orgs of its linked reports see it. No
    rule depends on time: an embargo keeps a case's content from the public, not from its
    participants.
    """
    if sees_everything(actor):
        return true()
    if actor.org_id is None:
        return false()
    invited = exists(
        select(CaseVendor.id).where(
            CaseVendor.case_id == Case.id, CaseVendor.org_id == actor.org_id
        )
    )
    reporter = exists(
        select(Vuln.id).where(Vuln.case_id == Case.id, Vuln.reporter_org_id == actor.org_id)
    )
    return or_(invited, reporter)


def advisory_audience(actor: Actor, now: datetime) -> ColumnElement[bool]:
    """The advisories `actor` may see, as a condition on `Advisory`."""
    if sees_everything(actor):
        return true()
    participant = exists(select(Case.id).where(Case.id == Advisory.case_id, case_audience(actor)))
    shared = _shared_with(
        actor, SharedObject.ADVISORY, Advisory.id, Advisory.tlp, Advisory.embargo_end, now
    )
    return and_(Advisory.published_revision > 0, or_(participant, shared))


def imported_audience(actor: Actor) -> ColumnElement[bool]:
    """The imported advisories `actor` may see: CLEAR ones are public; GREEN ones go to the
    community's participant orgs (and the agency's admins and analysts see all)."""
    if sees_everything(actor):
        return true()
    if in_community(actor):
        return ImportedAdvisory.tlp.in_([Tlp.CLEAR.value, Tlp.GREEN.value])
    return ImportedAdvisory.tlp == Tlp.CLEAR.value


def invited_vendor(session: Session, case_id: str | None, org_id: str | None) -> bool:
    """Whether `org_id` is a vendor invited to case `case_id`."""
    if case_id is None or org_id is None:
        return False
    found = session.scalar(
        select(CaseVendor.id).where(CaseVendor.case_id == case_id, CaseVendor.org_id == org_id)
    )
    return found is not None


@dataclass(frozen=True)
class Explanation:
    """Whether an org (or a user of it) can see an object, and every rule that decided it."""

    visible: bool
    reasons: list[str]


def _caller(
    session: Session, org_id: str, user_id: str | None, what: str
) -> Organization | Explanation:
    """The org asked about, or the answer itself when it is settled before any rule applies."""
    org = session.get(Organization, org_id)
    if org is None:
        return Explanation(False, [f"org {org_id} does not exist"])
    roles: frozenset[Role] = frozenset()
    if user_id is not None:
        roles = frozenset(
            Role(role)
            for role in session.scalars(
                select(Membership.role).where(
                    Membership.user_id == user_id, Membership.org_id == org_id
                )
            )
        )
        if not roles:
            return Explanation(False, [f"user {user_id} is not a member of org {org.name}"])
    if Capacity.AGENCY in org.capacities and roles & _SEE_ALL_ROLES:
        return Explanation(True, [f"agency admins and analysts see every {what}"])
    return org


def _recipients(
    session: Session, object_type: SharedObject, object_id: str
) -> Sequence[ShareRecipient]:
    return session.scalars(
        select(ShareRecipient).where(
            ShareRecipient.object_type == object_type.value,
            ShareRecipient.object_id == object_id,
        )
    ).all()


def explain_vuln(
    session: Session, vuln: Vuln, org_id: str, user_id: str | None, now: datetime
) -> Explanation:
    """Why members of `org_id` (or the user `user_id` acting for it) can or cannot see `vuln`.

    The same rules as `vuln_audience`, one at a time, in words. For an org without a user, the
    answer is for any member without a role that sees everything.
    """
    org = _caller(session, org_id, user_id, "vulnerability report")
    if isinstance(org, Explanation):
        return org
    if vuln.reporter_org_id == org_id:
        return Explanation(True, [f"{org.name} filed the report"])
    recipients = _recipients(session, SharedObject.VULN, vuln.id)
    if not vuln.share_consent:
        return Explanation(False, ["the reporter did not consent to sharing the report"])
    if user_id is not None and any(r.user_id == user_id for r in recipients):
        return Explanation(True, ["the user is a named recipient"])
    if invited_vendor(session, vuln.case_id, org_id):
        number = session.scalar(select(Case.number).where(Case.id == vuln.case_id))
        return Explanation(True, [f"{org.name} is a vendor invited to case {number}"])
    return _by_label(session, Tlp(vuln.tlp), vuln.embargo_end, org, recipients, now)


def explain_advisory(
    session: Session, advisory: Advisory, org_id: str, user_id: str | None, now: datetime
) -> Explanation:
    """Why members of `org_id` (or the user `user_id`) can or cannot see `advisory`: the same
    rules as `advisory_audience`, in words."""
    org = _caller(session, org_id, user_id, "advisory")
    if isinstance(org, Explanation):
        return org
    if advisory.published_revision == 0:
        return Explanation(False, ["the advisory is not published yet"])
    number = session.scalar(select(Case.number).where(Case.id == advisory.case_id))
    if invited_vendor(session, advisory.case_id, org_id):
        return Explanation(True, [f"{org.name} is a vendor invited to case {number}"])
    reported = session.scalar(
        select(Vuln.id).where(Vuln.case_id == advisory.case_id, Vuln.reporter_org_id == org_id)
    )
    if reported is not None:
        return Explanation(True, [f"{org.name} reported a vulnerability of case {number}"])
    recipients = _recipients(session, SharedObject.ADVISORY, advisory.id)
    if user_id is not None and any(r.user_id == user_id for r in recipients):
        return Explanation(True, ["the user is a named recipient"])
    tlp = Tlp(advisory.tlp)
    return _by_label(session, tlp, advisory.embargo_end, org, recipients, now)


def _by_label(
    session: Session,
    tlp: Tlp,
    embargo: datetime | None,
    org: Organization,
    recipients: Sequence[ShareRecipient],
    now: datetime,
) -> Explanation:
    label = f"TLP:{tlp.value}"
    recipient_orgs = {r.org_id for r in recipients if r.org_id is not None}
    is_recipient = org.id in recipient_orgs
    released = embargo is None or embargo <= now
    embargo_words = (
        "no embargo"
        if embargo is None
        else f"the embargo {'ended' if released else 'lasts until'} {embargo:%Y-%m-%d %H:%M} UTC"
    )
    if tlp is Tlp.RED:
        return Explanation(False, [f"{label}: only named user recipients see it"])
    if is_recipient:
        return Explanation(True, [f"{label}: {org.name} is a recipient org"])
    if tlp is Tlp.AMBER_STRICT:
        return Explanation(False, [f"{label}: {org.name} is not a recipient org"])
    if tlp is Tlp.AMBER:
        sharers = session.scalars(
            select(Organization.name)
            .join(OrgClient, OrgClient.org_id == Organization.id)
            .where(OrgClient.client_org_id == org.id, Organization.id.in_(recipient_orgs))
            .order_by(Organization.name)
        ).all()
        if sharers:
            return Explanation(
                True, [f"{label}: {org.name} is a declared client of {', '.join(sharers)}"]
            )
        return Explanation(
            False, [f"{label}: {org.name} is neither a recipient org nor a client of one"]
        )
    if tlp is Tlp.GREEN:
        if Capacity.PARTICIPANT not in org.capacities:
            return Explanation(
                False, [f"{label}: {org.name} is not a recipient nor a participant org"]
            )
        return Explanation(
            released,
            [f"{label}: {org.name} is a participant org of the community; {embargo_words}"],
        )
    return Explanation(released, [f"{label}: public once released; {embargo_words}"])
