"""The submission state machine, as data: which moves exist and which party may make each one.

Keep every rule about states here: services, the API and the tests all read this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.StrEnum):
    """Where a submission is in its life."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    TESTING = "testing"
    REPORT_ISSUED = "report_issued"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    DECLINED = "declined"


class Party(enum.StrEnum):
    """Who makes a move: the developer org that owns the submission, the agency, or the system."""

    DEVELOPER = "developer"
    AGENCY = "agency"
    SYSTEM = "system"


FINAL_STATES: frozenset[State] = frozenset({State.CLOSED, State.WITHDRAWN, State.DECLINED})

# States in which the agency still owes a report: deadlines are tracked and notified for these.
ACTIVE_STATES: frozenset[State] = frozenset({State.SUBMITTED, State.ACCEPTED, State.TESTING})

# The window is closed, and no time is left, once the report is issued or the submission ended.
ENDED_STATES: frozenset[State] = FINAL_STATES | {State.REPORT_ISSUED}

# Until then the window can still change and the developer still edit the submission.
EDITABLE_STATES: frozenset[State] = frozenset(State) - ENDED_STATES

# States in which the agency may use the model's access keys.
ACCESS_STATES: frozenset[State] = frozenset({State.ACCEPTED, State.TESTING})


@dataclass(frozen=True)
class Move:
    """One legal transition and the party allowed to make it."""

    source: State
    target: State
    party: Party


MOVES: tuple[Move, ...] = (
    Move(State.DRAFT, State.SUBMITTED, Party.DEVELOPER),
    Move(State.SUBMITTED, State.ACCEPTED, Party.AGENCY),
    Move(State.SUBMITTED, State.DECLINED, Party.AGENCY),
    # Only the system starts testing (the first campaign) and issues reports: never an HTTP call.
    Move(State.ACCEPTED, State.TESTING, Party.SYSTEM),
    Move(State.TESTING, State.REPORT_ISSUED, Party.SYSTEM),
    Move(State.REPORT_ISSUED, State.CLOSED, Party.AGENCY),
    # Participation is voluntary: the developer may leave at any point before the report.
    Move(State.DRAFT, State.WITHDRAWN, Party.DEVELOPER),
    Move(State.SUBMITTED, State.WITHDRAWN, Party.DEVELOPER),
    Move(State.ACCEPTED, State.WITHDRAWN, Party.DEVELOPER),
    Move(State.TESTING, State.WITHDRAWN, Party.DEVELOPER),
)

_BY_PAIR: dict[tuple[State, State], Move] = {(m.source, m.target): m for m in MOVES}


def move_for(source: State, target: State) -> Move | None:
    """The legal move from `source` to `target`, or None when there is none."""
    return _BY_PAIR.get((source, target))


def moves_from(source: State, *, include_system: bool = True) -> list[Move]:
    """Legal moves out of `source`, in table order (system-only moves left out on request)."""
    return [
        m for m in MOVES if m.source == source and (include_system or m.party is not Party.SYSTEM)
    ]


def describe_allowed(source: State) -> str:
    """Human list of the moves the transitions endpoint accepts from `source`."""
    moves = moves_from(source, include_system=False)
    if not moves:
        return f"none: {source.value} admits no further transition by request"
    return ", ".join(f"{m.target.value} (by the {m.party.value})" for m in moves)
