"""Feature use as a rollup consumer: ``feature_user_days`` holds, per feature, tenant-local day, bot
side and user key (analytics.rollups.aggregate.user_key), how many of that person's events matched
the feature's matcher. Usage counts are its sums, unique users its distinct keys. Only events that
name a person (userId or anonymousId) count: a feature is used by someone.

Its check folds the retained raw events through the same matchers (the matcher has one definition,
in Python) and compares the result with the table, row for row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.features.service import feature_matchers
from analytics.ingest.catalogue import CUSTOM
from analytics.matchers import Matcher
from analytics.rollups.aggregate import RawEvent, raw_event_columns, user_key
from analytics.rollups.consumers import KEPT, Claim, Consumer, Difference

FeatureDays = dict[tuple[date, int, bool, str], int]  # (day, feature, bot, user key): the key order

_UPSERT = text(
    """
    INSERT INTO feature_user_days (tenant_id, day, feature_id, bot, user_key, events)
    SELECT :tenant, * FROM unnest(CAST(:day AS date[]), CAST(:feature_id AS bigint[]),
        CAST(:bot AS boolean[]), CAST(:user_key AS text[]), CAST(:events AS integer[]))
    ON CONFLICT (tenant_id, day, feature_id, bot, user_key) DO UPDATE SET
        events = feature_user_days.events + EXCLUDED.events
    """
)


def by_event(matchers: Iterable[tuple[int, Matcher]]) -> dict[str, list[tuple[int, Matcher]]]:
    """The matchers by the event they name, so each event is tried against its own candidates only."""
    index: dict[str, list[tuple[int, Matcher]]] = {}
    for feature_id, matcher in matchers:
        index.setdefault(matcher.event, []).append((feature_id, matcher))
    return index


def fold_feature_days(events: Iterable[tuple[RawEvent, bool]], tz: ZoneInfo,
                      matchers: dict[str, list[tuple[int, Matcher]]], into: FeatureDays | None = None
                      ) -> FeatureDays:
    """(day, feature, bot, user key) -> matching events, for the events that name a person."""
    days: FeatureDays = into if into is not None else {}
    for event, bot in events:
        candidates = matchers.get(event.name if event.type == CUSTOM else event.type)  # type: ignore[arg-type]
        if not candidates or (event.user_id is None and event.anonymous_id is None):
            continue
        day = event.occurred_at.astimezone(tz).date()
        who = user_key(event.user_id, event.anonymous_id)
        for feature_id, matcher in candidates:
            if matcher.matches(event):
                key = (day, feature_id, bot, who)
                days[key] = days.get(key, 0) + 1
    return days


async def write_feature_days(conn: AsyncConnection, tenant_id: int, days: FeatureDays) -> None:
    """One upsert in sorted key order (concurrent writers never deadlock)."""
    rows = sorted(days.items())
    if rows:
        await conn.execute(_UPSERT, {
            "tenant": tenant_id, "feature_id": [k[1] for k, _ in rows], "day": [k[0] for k, _ in rows],
            "bot": [k[2] for k, _ in rows], "user_key": [k[3] for k, _ in rows],
            "events": [v for _, v in rows]})


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    matchers = by_event(await feature_matchers(conn, claim.tenant_id))
    if matchers:
        days = fold_feature_days(claim.with_bot(), claim.tz, matchers)
        await write_feature_days(conn, claim.tenant_id, days)


def named(names: Sequence[str]) -> tuple[str, dict[str, object]]:
    """SQL narrowing raw events (alias ``e``) to those whose type or Custom name is one of ``names``."""
    return ("((e.type = 'Custom' AND e.name = ANY(:names)) OR (e.type <> 'Custom' AND e.type = ANY(:names)))",
            {"names": list(names)})


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    matchers = by_event(await feature_matchers(conn, tenant_id))
    tz = ZoneInfo((await conn.execute(text("SELECT timezone FROM tenants WHERE id = :tenant"),
                                      {"tenant": tenant_id})).scalar_one())
    want: FeatureDays = {}
    if matchers:
        where, params = named(sorted(matchers))
        result = await conn.stream(text(
            f"WITH {KEPT} SELECT {raw_event_columns('e')}, coalesce(s.excluded, false) FROM events e "
            "LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key "
            f"WHERE e.tenant_id = :tenant AND e.occurred_at >= (SELECT at FROM kept) AND {where}"),
            {"tenant": tenant_id, **params})
        async for rows in result.partitions(10_000):
            fold_feature_days(((RawEvent(*row[:-1]), bool(row[-1])) for row in rows), tz, matchers, want)
    found: list[tuple[tuple[date, int, bool, str], int]] = sorted(want.items())
    sql = (f"WITH {KEPT}, want AS (SELECT * FROM unnest(CAST(:feature_id AS bigint[]), CAST(:day AS date[]), "
           "CAST(:bot AS boolean[]), CAST(:user_key AS text[]), CAST(:events AS integer[]))), "
           "have AS (SELECT feature_id, day, bot, user_key, events FROM feature_user_days "
           "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)) SELECT "
           "(SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) m), "
           "(SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) x)")
    missing, extra = (await conn.execute(text(sql), {
        "tenant": tenant_id, "feature_id": [k[1] for k, _ in found], "day": [k[0] for k, _ in found],
        "bot": [k[2] for k, _ in found], "user_key": [k[3] for k, _ in found],
        "events": [v for _, v in found]})).one()
    return [Difference("feature_user_days", int(missing), int(extra))] if missing or extra else []


FEATURES = Consumer(
    "features", _consume, _verify,
    day_clears=("DELETE FROM feature_user_days WHERE tenant_id = :tenant AND day = :day",),
    expiry={"feature_user_days": "DELETE FROM feature_user_days WHERE tenant_id = :tenant "
                                 "AND day < (SELECT day FROM kept)"},
    tables=("feature_user_days",),
    erase=("DELETE FROM feature_user_days WHERE tenant_id = :tenant AND user_key = :user_key",),
)
