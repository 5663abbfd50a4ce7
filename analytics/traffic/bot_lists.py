"""The maintained bot lists tier 1 unites, compiled once into RE2, and the one taxonomy they map to.

Sources, searched in this order (``SOURCES``), each read from its installed package at first use:

- ``device-detector``: Matomo's ``regexes/upstream/bots.yml`` (~840 bots, each with a name and a
  category). Matomo wraps every regex in ``(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:...)`` so a
  name only matches as a word start; we do the same.
- ``crawler-user-agents``: ``crawler-user-agents.json`` (~1,500 patterns, each with tags).
- ``crawlerdetect``: JayBizzle/CrawlerDetect's ~1,460 patterns, searched after its exclusions are
  stripped (as ``CrawlerDetect.is_crawler`` does). No categories: the project's own lists
  (``bot_rules``) and the other sources name the kind.

RE2 cannot express look-arounds. A pattern with one is *translated*: its look-arounds are dropped to
give an RE2 superset that joins the set, and a hit on it is confirmed with Python's ``re`` on the
original (a variable-width negative look-behind ``(?<!a|bc)`` split into ``(?<!a)(?<!bc)``, which
means the same). A pattern neither engine takes is skipped; both counts are logged once.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import re2
import yaml
from crawlerdetect.providers.crawlers import data as CRAWLERDETECT_PATTERNS
from crawlerdetect.providers.exclusions import data as CRAWLERDETECT_EXCLUSIONS

log = logging.getLogger(__name__)


class BotReason(enum.StrEnum):
    """Tier-1 reason codes (stored as text in ``sessions.bot_reasons``; README "Bots")."""

    EMPTY = "ua_empty"
    CRAWLER = "ua_crawler"  # search engines and generic crawlers
    AI_CRAWLER = "ua_ai_crawler"  # AI training and AI search crawlers
    AI_AGENT = "ua_ai_agent"  # AI assistants and agents fetching for a user
    SEO_TOOL = "ua_seo_tool"  # SEO, accessibility and compliance auditors, validators
    MONITOR = "ua_monitor"  # uptime, health checks, synthetic monitoring
    SECURITY_SCANNER = "ua_security_scanner"  # vulnerability, certificate and exploit scanners
    SERVICE_AGENT = "ua_service_agent"  # webhooks and SaaS integration clients
    FEED_FETCHER = "ua_feed_fetcher"  # feed readers, fediverse servers, read-it-later services
    LINK_PREVIEW = "ua_link_preview"  # social media agents, link unfurlers, media proxies
    ARCHIVER = "ua_archiver"  # web archives and research crawlers
    HTTP_LIBRARY = "ua_http_library"
    HEADLESS = "ua_headless"  # headless browsers and automation (Playwright, Selenium, Electron shells)
    TENANT_RULE = "ua_tenant_rule"
    # A server or relay sent the event without the end user's agent: a person by default, excluded
    # only by the tenant's choice (analytics.ingest.origin; tenants.exclude_unknown_agents).
    UNKNOWN_AGENT = "unknown_agent"


DEVICE_DETECTOR = "device-detector"
CRAWLER_USER_AGENTS = "crawler-user-agents"
CRAWLERDETECT = "crawlerdetect"
SOURCES = (DEVICE_DETECTOR, CRAWLER_USER_AGENTS, CRAWLERDETECT)

# Matomo's categories (bots.yml) and crawler-user-agents' tags, in our taxonomy. A tag list is read
# in TAG_ORDER, most specific first.
MATOMO_CATEGORIES: dict[str, BotReason] = {
    "AI Agent": BotReason.AI_AGENT, "AI Assistant": BotReason.AI_AGENT,
    "AI Data Scraper": BotReason.AI_CRAWLER, "AI Search Crawler": BotReason.AI_CRAWLER,
    "Benchmark": BotReason.MONITOR, "Site Monitor": BotReason.MONITOR, "Network Monitor": BotReason.MONITOR,
    "Crawler": BotReason.CRAWLER, "Search bot": BotReason.CRAWLER, "Search tools": BotReason.CRAWLER,
    "Service bot": BotReason.SERVICE_AGENT, "Service Agent": BotReason.SERVICE_AGENT,
    "Feed Fetcher": BotReason.FEED_FETCHER, "Feed Parser": BotReason.FEED_FETCHER,
    "Feed Reader": BotReason.FEED_FETCHER, "Read-it-later Service": BotReason.FEED_FETCHER,
    "Security Checker": BotReason.SECURITY_SCANNER, "Security search bot": BotReason.SECURITY_SCANNER,
    "Social Media Agent": BotReason.LINK_PREVIEW, "Validator": BotReason.SEO_TOOL,
}
TAG_ORDER: tuple[tuple[str, BotReason], ...] = (
    ("ai-crawler", BotReason.AI_CRAWLER), ("browser-automation", BotReason.HEADLESS),
    ("scanner", BotReason.SECURITY_SCANNER), ("monitoring", BotReason.MONITOR),
    ("social-preview", BotReason.LINK_PREVIEW), ("feed-reader", BotReason.FEED_FETCHER),
    ("archiver", BotReason.ARCHIVER), ("academic", BotReason.ARCHIVER), ("seo", BotReason.SEO_TOOL),
    ("http-library", BotReason.HTTP_LIBRARY), ("search-engine", BotReason.CRAWLER),
    ("advertising", BotReason.CRAWLER),
)
_MATOMO_PREFIX = r"(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)"
_LOOKAROUND = re.compile(r"\(\?<?[!=]")


@dataclass(frozen=True, slots=True)
class ListHit:
    source: str
    token: str  # the text of the agent the entry matched
    category: BotReason


@dataclass(frozen=True, slots=True)
class _Entry:
    pattern: str  # as the source wrote it
    category: BotReason
    confirm: re.Pattern[str] | None  # set when RE2 searched a superset (look-arounds dropped)


@dataclass(frozen=True)
class _CompiledSource:
    name: str
    entries: tuple[_Entry, ...]
    search_set: Any  # re2.Set over the entries, in order
    translated: int
    skipped: int


def re2_options(*, case_sensitive: bool = False) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False
    options.max_mem = 64 << 20  # the sets' DFAs outgrow RE2's 8 MiB default and would fall back
    return options


_held_out: frozenset[str] = frozenset()


@contextmanager
def holding_out(sources: Iterable[str]) -> Iterator[None]:
    """For evaluation only (``bench/bots.py --held-out``): search without ``sources``, to measure how
    the rest generalise to the agents only those lists know. Callers clear the verdict caches
    (``analytics.traffic.agents.clear_agent_caches``) on both sides."""
    global _held_out
    before, _held_out = _held_out, frozenset(sources)
    try:
        yield
    finally:
        _held_out = before


def list_hits(agent: str) -> list[ListHit]:
    """At most one hit per source, in ``SOURCES`` order; empty when no list names the agent."""
    hits = []
    for source in _compiled_sources():
        if source.name in _held_out:
            continue
        text = _without_crawlerdetect_exclusions(agent) if source.name == CRAWLERDETECT else agent
        if hit := _first_entry_hit(source, text):
            hits.append(hit)
    return hits


# The PyPI distribution each source is read from (its version is recorded with the verdicts' lists).
DISTRIBUTIONS = {DEVICE_DETECTOR: "device-detector", CRAWLER_USER_AGENTS: "crawler-user-agents",
                 CRAWLERDETECT: "crawlerdetect"}


def source_versions() -> dict[str, str]:
    """Per source, the installed version of the package its list comes from."""
    from importlib.metadata import version

    return {source: version(distribution) for source, distribution in DISTRIBUTIONS.items()}


def source_counts() -> dict[str, tuple[int, int, int]]:
    """Per source: patterns in use, of which translated, and patterns skipped."""
    return {s.name: (len(s.entries), s.translated, s.skipped) for s in _compiled_sources()}


def _first_entry_hit(source: _CompiledSource, text: str) -> ListHit | None:
    if not text.strip():
        return None
    for index in sorted(source.search_set.Match(text) or ()):
        entry = source.entries[index]
        expression = entry.confirm or _entry_expression(source.name, index)
        found = expression.search(text)
        if found:
            token = found.group(1) if source.name == DEVICE_DETECTOR else found.group(0)
            return ListHit(source.name, token.strip(" ;()/") or token, entry.category)
    return None


@lru_cache(maxsize=1024)
def _entry_expression(source: str, index: int) -> Any:
    entry = next(s for s in _compiled_sources() if s.name == source).entries[index]
    if source == DEVICE_DETECTOR:
        return re2.compile(f"{_MATOMO_PREFIX}({entry.pattern})", re2_options())
    return re2.compile(entry.pattern, re2_options(case_sensitive=source == CRAWLER_USER_AGENTS))


def _without_crawlerdetect_exclusions(agent: str) -> str:
    return _crawlerdetect_exclusions().sub("", agent)


@lru_cache(maxsize=1)
def _crawlerdetect_exclusions() -> re.Pattern[str]:
    # Python's re: a substitution, which the RE2 binding does slowly.
    return re.compile("|".join(CRAWLERDETECT_EXCLUSIONS), re.IGNORECASE)


@lru_cache(maxsize=1)
def _compiled_sources() -> tuple[_CompiledSource, ...]:
    sources = (
        _compile(DEVICE_DETECTOR, [(e["regex"], _matomo_category(e.get("category"))) for e in _matomo_bots()],
                 prefix=_MATOMO_PREFIX),
        _compile(CRAWLER_USER_AGENTS, [(e["pattern"], _tag_category(e.get("tags", ())))
                                       for e in _crawler_user_agents()], case_sensitive=True),
        _compile(CRAWLERDETECT, [(p, BotReason.CRAWLER) for p in CRAWLERDETECT_PATTERNS]),
    )
    for source in sources:
        log.info("bot list %s: %d patterns in RE2 (%d translated from look-arounds), %d skipped",
                 source.name, len(source.entries), source.translated, source.skipped)
    return sources


def _compile(name: str, patterns: list[tuple[str, BotReason]], prefix: str = "",
             case_sensitive: bool = False) -> _CompiledSource:
    search_set = re2.Set.SearchSet(re2_options(case_sensitive=case_sensitive))
    entries: list[_Entry] = []
    translated = skipped = 0
    for pattern, category in patterns:
        confirm = None
        searched = f"{prefix}({pattern})" if prefix else pattern
        if _LOOKAROUND.search(pattern):
            confirm = _python_expression(searched)
            searched = _without_lookarounds(searched)
            if confirm is None or not _re2_compiles(searched):
                skipped += 1
                continue
            translated += 1
        elif not _re2_compiles(searched):
            skipped += 1
            continue
        search_set.Add(searched)
        entries.append(_Entry(pattern, category, confirm))
    search_set.Compile()
    return _CompiledSource(name, tuple(entries), search_set, translated, skipped)


def _re2_compiles(pattern: str) -> bool:
    try:
        re2.compile(pattern, re2_options())
    except re2.error:
        return False
    return True


def _python_expression(pattern: str) -> re.Pattern[str] | None:
    """``re`` wants fixed-width look-behinds: split a negative one's alternatives (same meaning)."""
    def split(found: re.Match[str]) -> str:
        return "".join(f"(?<!{part})" for part in _top_level_alternatives(found.group(1)))
    try:
        return re.compile(_replace_groups(pattern, "(?<!", split), re.IGNORECASE)
    except re.error:
        return None


def _without_lookarounds(pattern: str) -> str:
    while found := _LOOKAROUND.search(pattern):
        end = _group_end(pattern, found.start())
        pattern = pattern[:found.start()] + pattern[end:]
    return pattern


def _replace_groups(pattern: str, opener: str, replace: Any) -> str:
    out, position = [], 0
    while (start := pattern.find(opener, position)) >= 0:
        end = _group_end(pattern, start)
        out.append(pattern[position:start])
        out.append(replace(re.match(r"\(\?<!(.*)\)", pattern[start:end], re.DOTALL)))
        position = end
    return "".join(out) + pattern[position:]


def _group_end(pattern: str, start: int) -> int:
    """The index just after the group opened at ``start`` (escapes and classes respected)."""
    depth, index, in_class = 0, start, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(pattern)


def _top_level_alternatives(group: str) -> list[str]:
    parts, depth, current, index = [], 0, "", 0
    while index < len(group):
        char = group[index]
        if char == "\\":
            current += group[index:index + 2]
            index += 2
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    return [*parts, current]


def _matomo_category(category: str | None) -> BotReason:
    return MATOMO_CATEGORIES.get(category or "", BotReason.CRAWLER)


def _tag_category(tags: Any) -> BotReason:
    return next((reason for tag, reason in TAG_ORDER if tag in tags), BotReason.CRAWLER)


def _matomo_bots() -> list[dict[str, Any]]:
    text = (resources.files("device_detector") / "regexes" / "upstream" / "bots.yml").read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.load(text, Loader=loader))


def _crawler_user_agents() -> list[dict[str, Any]]:
    text = (resources.files("crawleruseragents") / "crawler-user-agents.json").read_text("utf-8")
    return list(json.loads(text))
