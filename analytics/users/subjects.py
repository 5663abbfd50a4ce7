"""Whose data a privacy request names (a user id or an anonymous id) and which stored rows are theirs.

A person's rows, as erasure deletes them and the access export writes them:
- raw events naming them: for a user id, its events and the events that carry only an anonymous id
  seen with it on an event or a session (the person's own devices before they signed in); for an
  anonymous id, every event that carries it;
- their sessions: those of these events, and those stored under their ids on days whose raw events
  retention removed;
- the events of their sessions that name nobody (cookieless page views of the same visit);
- the per-person rows of every rollup consumer that declares ``erase`` statements, under each of
  their user keys (``u:<userId>``, ``a:<anonymousId>``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.errors import InvalidArgument
from analytics.ingest.events import MAX_ID_LENGTH
from analytics.text import unstorable


class SubjectKind(enum.Enum):
    USER = "user"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    id: str


def subject_of(user_id: str | None, anonymous_id: str | None) -> Subject:
    """Exactly one of the two ids, as stored at ingest (checked like ingest checks it)."""
    if (user_id is None) == (anonymous_id is None):
        raise InvalidArgument("userId", "give exactly one of userId and anonymousId")
    field, value = ("userId", user_id) if user_id is not None else ("anonymousId", anonymous_id)
    assert value is not None
    problem = unstorable(value)
    if problem:
        raise InvalidArgument(field, problem)
    if not value.strip():
        raise InvalidArgument(field, "must not be blank")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(field, f"is at most {MAX_ID_LENGTH} characters")
    return Subject(SubjectKind.USER if user_id is not None else SubjectKind.ANONYMOUS, value)


@dataclass(frozen=True)
class Identity:
    """The ids one request reaches: the user id (if any) and the anonymous ids."""

    user_id: str | None
    anonymous_ids: tuple[str, ...]

    @property
    def user_keys(self) -> list[str]:
        keys = [f"u:{self.user_id}"] if self.user_id is not None else []
        return keys + [f"a:{a}" for a in self.anonymous_ids]

    @property
    def params(self) -> dict[str, object]:
        return {"user_id": self.user_id, "anonymous_ids": list(self.anonymous_ids)}


# Sessions keep the link after retention removed the raw events (they follow the rollup retention).
_LINKED_ANONYMOUS = text(
    "SELECT anonymous_id FROM events WHERE tenant_id = :tenant AND user_id = :user_id "
    "AND anonymous_id IS NOT NULL UNION SELECT anonymous_id FROM sessions WHERE tenant_id = :tenant "
    "AND user_id = :user_id AND anonymous_id IS NOT NULL ORDER BY 1")


async def identity_of(conn: AsyncConnection, tenant_id: int, subject: Subject) -> Identity:
    if subject.kind is SubjectKind.ANONYMOUS:
        return Identity(None, (subject.id,))
    rows = await conn.execute(_LINKED_ANONYMOUS, {"tenant": tenant_id, "user_id": subject.id})
    return Identity(subject.id, tuple(row[0] for row in rows))


# Events naming the person (parameters :tenant, :user_id, :anonymous_ids).
NAMED_EVENTS = ("tenant_id = :tenant AND (user_id = :user_id "
                "OR (anonymous_id = ANY(CAST(:anonymous_ids AS text[])) "
                "AND (user_id IS NULL OR CAST(:user_id AS text) IS NULL)))")
# Events of the person's sessions that name nobody (parameter :sessions as well).
UNNAMED_SESSION_EVENTS = ("tenant_id = :tenant AND session_key = ANY(CAST(:sessions AS uuid[])) "
                          "AND user_id IS NULL AND anonymous_id IS NULL")
# The person's sessions: those their events belong to (events still in the outbox have none yet),
# and those naming them that ended before the raw events retention kept.
PERSON_SESSIONS = text(
    f"SELECT DISTINCT session_key FROM events WHERE {NAMED_EVENTS} AND session_key IS NOT NULL "
    "UNION SELECT id FROM sessions WHERE tenant_id = :tenant "
    "AND (user_id = :user_id OR anonymous_id = ANY(CAST(:anonymous_ids AS text[]))) "
    "AND last_seen_at < (SELECT raw_events_from FROM tenants WHERE id = :tenant)")


async def person_sessions(conn: AsyncConnection, tenant_id: int, identity: Identity) -> list[object]:
    rows = await conn.execute(PERSON_SESSIONS, {"tenant": tenant_id, **identity.params})
    return sorted((row[0] for row in rows), key=str)
