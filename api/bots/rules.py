"""Tenant bot rules in the graph: ``addBotRule`` (secret key) flags existing sessions by user agent
in a worker job that also corrects every affected counter; ``tenant { botRules }`` shows progress.
``setScannerExemptions`` names the scanner path rules the tenant's own site needs; ``setUnknownAgents``
whether server-sourced sessions without any user agent count as people."""

from __future__ import annotations

from datetime import datetime

import strawberry

from analytics.errors import InvalidArgument
from analytics.sessions import exemptions, rules, unknown_agents
from analytics.traffic.scanner import PATH_RULES
from api.context import AppInfo
from api.errors import BadInput
from workers.queue import enqueue_bot_rule


@strawberry.type(description="A user-agent pattern that marks sessions as bots (tier 1, reason "
                             "ua_tenant_rule), for new sessions and, once its job ran, existing ones.")
class BotRule:
    id: strawberry.ID
    pattern: str = strawberry.field(description="Case-insensitive substring, or an RE2 expression "
                                                "between slashes.")
    note: str | None
    created_at: datetime
    status: str = strawberry.field(description="queued, running (sessions flagged, days being corrected), "
                                               "done or failed (the retroactive run).")
    sessions_flagged: int | None = strawberry.field(
        description="Existing sessions the run flagged (not already bots).")
    days_corrected: int | None = strawberry.field(
        description="Local days whose counters the run recomputed from raw events.")
    finished_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, rule: rules.BotRule) -> BotRule:
        return cls(id=strawberry.ID(str(rule.id)), pattern=rule.pattern, note=rule.note,
                   created_at=rule.created_at, status=rule.status,
                   sessions_flagged=rule.sessions_flagged, days_corrected=rule.days_corrected,
                   finished_at=rule.finished_at, error=rule.error)


@strawberry.type(description="The tier-2 scanner path rules this tenant's own site needs, so its visitors "
                             "are not taken for scanners.")
class ScannerExemptions:
    rules: list[str] = strawberry.field(description=f"Exempt rules, of: {', '.join(PATH_RULES)}.")
    sessions_lifted: int = strawberry.field(
        description="Stored sessions that stopped being scanners (newly exempt rules only).")
    days_marked: int = strawberry.field(
        description="Local days whose counters are recomputed for them, after the correction delay.")


@strawberry.type(description="Whether sessions a server or relay sent without the end user's agent (device "
                             "type unknown) are excluded as bots (tier 1, reason unknown_agent).")
class UnknownAgents:
    exclude: bool
    sessions_changed: int = strawberry.field(
        description="Stored unknown-agent sessions whose bot flag the change turned.")
    days_marked: int = strawberry.field(
        description="Local days whose counters are recomputed for them, after the correction delay.")


async def scanner_exemptions(info: AppInfo) -> list[str]:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        return list(await exemptions.scanner_exemptions(conn, principal.tenant_id))


async def bot_rules(info: AppInfo) -> list[BotRule]:
    async with info.context.read() as conn:
        return [BotRule.of(rule) for rule in await rules.list_rules(conn)]


@strawberry.type
class BotRuleMutation:
    @strawberry.mutation(description="Add a bot rule (secret key): sessions whose user agent matches "
                                     "are bots from now on, and a worker job flags the existing ones "
                                     "and corrects every affected day's counters. Poll "
                                     "tenant { botRules } for its status.")
    async def add_bot_rule(self, info: AppInfo, pattern: str, note: str | None = None) -> BotRule:
        principal = info.context.require_secret()
        if note is not None and len(note) > 500:
            raise BadInput("note", "must be at most 500 characters")
        try:
            async with info.context.write() as conn:
                rule = await rules.add_rule(conn, pattern, note)
        except InvalidArgument as exc:
            raise BadInput("pattern", exc.message) from None
        await enqueue_bot_rule(info.context.resources.redis, principal.tenant_id, rule.id)
        return BotRule.of(rule)

    @strawberry.mutation(description="Set the scanner path rules this tenant's own site needs (secret key; "
                                     f"of: {', '.join(PATH_RULES)}; [] for none). Sessions derived from "
                                     "now on ignore them; stored sessions flagged by a newly exempt rule "
                                     "stop being scanners and their days' counters are corrected. "
                                     "Removing an exemption applies to new sessions only.")
    async def set_scanner_exemptions(self, info: AppInfo, rules: list[str]) -> ScannerExemptions:
        principal = info.context.require_secret()
        try:
            async with info.context.write() as conn:
                done = await exemptions.set_scanner_exemptions(conn, principal.tenant_id, rules,
                                                               principal.timezone)
        except InvalidArgument as exc:
            raise BadInput("rules", exc.message) from None
        # The worker's sweeper queues the marked days' corrections once the correction delay passed.
        return ScannerExemptions(rules=list(done.rules), sessions_lifted=done.sessions_lifted,
                                 days_marked=done.days_marked)

    @strawberry.mutation(description="Count (false, the default) or exclude (true) the sessions a server or "
                                     "relay sent without the end user's user agent (secret key). Applies to "
                                     "new sessions and to the stored ones; the days whose counters change "
                                     "side are corrected after the correction delay.")
    async def set_unknown_agents(self, info: AppInfo, exclude: bool) -> UnknownAgents:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            done = await unknown_agents.set_unknown_agents(conn, principal.tenant_id, exclude,
                                                           principal.timezone)
        return UnknownAgents(exclude=done.exclude, sessions_changed=done.sessions_changed,
                             days_marked=done.days_marked)
