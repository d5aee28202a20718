"""Everything a service call needs besides its arguments, built once per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .accounts.actor import Actor
from .clock import Clock, SystemClock
from .config import Settings
from .db import make_engine, make_session_factory, transaction
from .keys import SecretBox, SigningKey, load_public_keys


@dataclass
class Runtime:
    """Settings, database, clock and keys of one predeploy process."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    engine: Engine | None = None

    def __post_init__(self) -> None:
        if self.engine is None:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine = make_engine(self.settings.resolved_database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        assert self.engine is not None
        return make_session_factory(self.engine)

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        assert self.engine is not None
        return make_session_factory(self.engine, read_only=True)

    @cached_property
    def secrets(self) -> SecretBox:
        return SecretBox.from_settings(self.settings)

    @cached_property
    def signing_key(self) -> SigningKey:
        return SigningKey.from_settings(self.settings)

    @cached_property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The agency's public keys by key id: the current one and every retired one."""
        return load_public_keys(self.settings)

    def forget_keys(self) -> None:
        """Load the keys from the data dir again at their next use (after a rotation)."""
        for name in ("secrets", "signing_key", "public_keys"):
            self.__dict__.pop(name, None)

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """One database transaction: commits if the block succeeds, rolls back if it raises."""
        with transaction(self.read_sessions if read_only else self.sessions) as session:
            yield session

    @contextmanager
    def unit(self, actor: Actor, *, read_only: bool = False) -> Iterator[Context]:
        """One transaction acting as `actor`: all of it commits, or none of it."""
        with self.transaction(read_only=read_only) as session:
            yield Context(runtime=self, session=session, actor=actor)


@dataclass(frozen=True)
class Context:
    """What a service function receives: one session (one transaction), the caller, the runtime."""

    runtime: Runtime
    session: Session
    actor: Actor
    inline: bool = False
    """Set by the HTTP layer when this context's work runs on the event loop (SQLite reads)."""

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def now(self) -> datetime:
        return self.runtime.clock.now()
