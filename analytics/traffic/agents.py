"""User agents: device type, browser and OS, and the tier-1 bot verdict (maintained lists + tenant rules).

Parsing uses ``ua-parser`` (the uap-core rules, republished monthly as ``ua-parser-builtins``) with
its Rust resolver from ``ua-parser-rs``. Whether an agent is automated, and what kind, is decided by
the union of three maintained lists (``bot_lists``: Matomo's device-detector, crawler-user-agents,
crawlerdetect), the project's own lists and its allow side (``bot_rules``), all searched with RE2.
The order, also in README "Bots":

1. an empty agent is ``ua_empty``;
2. the project's own lists, then the maintained lists; no hit: human (then the tenant's rules);
3. harmless text (Cronet, the device model of an Android platform segment) is removed and the lists
   searched again; no hit left: human;
4. an explicit crawler token (``...bot``, ``crawler``, ``spider``) or a hit in the project's own
   lists is a bot; otherwise a known real client (office, mail, media and download apps, in-app
   browsers with a full mobile engine) is human;
5. the kind is the project's own list's, else the first list hit that says more than ``ua_crawler``
   (sources in ``bot_lists.SOURCES`` order), else ``ua_crawler``; ``matched`` is "source: token";
6. an agent no list names is still a bot when it shows a generic sign of automation (a contact
   e-mail, a ``+http://`` link, a word such as ``scanner`` or ``uptime``: ``bot_rules.GENERIC``;
   a name inside ``(KHTML, like Gecko; ...)``; a Mozilla token with only a product name, in which
   the device parser finds no OS or device: ``bot_rules.MOZILLA_SHELL``) and is not a known real
   client; ``matched`` is "analytics (generic): text".

Tenant patterns: plain text is a case-insensitive substring; text wrapped in slashes
(``/^AcmeMonitor\\/\\d+/``) is a case-insensitive RE2 expression. RE2 matches in linear time, so a
tenant's pattern cannot stall ingest.

Both the parse and the list verdict are cached per user agent (``AGENT_CACHE_SIZE`` entries):
traffic repeats its agents heavily, so most calls are a dictionary look-up (``bench/user_agents.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2
import ua_parser

from analytics.errors import InvalidArgument
from analytics.ingest.origin import MAX_AGENT_LENGTH  # ingest stores agents cut to the same length
from analytics.traffic.bot_lists import BotReason as BotReason  # re-exported: callers import it here
from analytics.traffic.bot_lists import ListHit, list_hits, re2_options
from analytics.traffic.bot_rules import (
    OWN_SOURCE,
    REAL_CLIENTS,
    explicit_crawler,
    generic_hit,
    has_browser_token,
    mozilla_shell,
    own_list_hit,
    without_harmless,
)

AGENT_CACHE_SIZE = 4096
MAX_TENANT_PATTERNS = 100
MAX_PATTERN_LENGTH = 200


class DeviceType(enum.StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    BOT = "bot"
    OTHER = "other"
    UNKNOWN = "unknown"  # a server or relay sent the events without the end user's agent


@dataclass(frozen=True, slots=True)
class BotVerdict:
    """Tier 1: ``matched`` is "source: token" (``crawler-user-agents: AhrefsBot``), or the tenant
    pattern that decided it."""

    is_bot: bool
    reason_code: BotReason | None = None
    matched: str | None = None


HUMAN = BotVerdict(is_bot=False)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    device_type: DeviceType
    browser: str
    browser_version: str | None
    os: str
    os_version: str | None


class BotPatternError(InvalidArgument):
    """A tenant bot pattern that cannot be used; the message quotes the pattern."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__("bot_patterns", f"pattern {pattern!r} {reason}")
        self.pattern = pattern


_TABLET_DEVICES = frozenset({"iPad", "Kindle", "Kindle Fire", "Kindle Fire HD", "Generic Tablet",
                             "BlackBerry Playbook", "Galaxy Tab", "Xoom"})
_PHONE_DEVICES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})
_MOBILE_OS = frozenset({"Android", "iOS", "Windows Phone", "KaiOS", "BlackBerry OS", "Firefox OS",
                        "Symbian OS", "HarmonyOS"})
_DESKTOP_OS = frozenset({"Windows", "Mac OS X", "Chrome OS", "Linux", "Ubuntu", "Fedora", "Debian",
                         "Linux Mint", "Arch Linux", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"})

_PARSER = ua_parser.Parser(ua_parser.BestAvailableResolver(
    ua_parser.load_lazy_builtins() if ua_parser.RegexResolver or ua_parser.Re2Resolver
    else ua_parser.load_builtins()))

_RE2_OPTIONS = re2_options()

# Television and console browsers are people, but neither desktop nor mobile. AFTxx are Fire TV
# models, which ua-parser files under Android tablets.
_TV_OR_CONSOLE = re2.compile(
    r"smart-?tv|hbbtv|\bxbox\b|playstation|nintendo|crkey|roku|web0s|tizen|bravia|(?-i:\bAFT[A-Z]{1,4}\b)",
    _RE2_OPTIONS)

# A tenant pattern that matches one of these would hide ordinary visitors: rejected as a mistake.
_ORDINARY_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)


def _clean(user_agent: str | None) -> str:
    return (user_agent or "").strip()[:MAX_AGENT_LENGTH]


def is_bot(user_agent: str | None, extra_patterns: Sequence[str] = ()) -> BotVerdict:
    """Tier 1: empty agent, then the crawler library, then the tenant's own patterns."""
    agent = _clean(user_agent)
    if not agent:
        return BotVerdict(is_bot=True, reason_code=BotReason.EMPTY)
    verdict = _library_verdict(agent)
    if verdict.is_bot or not extra_patterns:
        return verdict
    for source, expression in _compile_patterns(tuple(extra_patterns)):
        if expression.search(agent):
            return BotVerdict(is_bot=True, reason_code=BotReason.TENANT_RULE, matched=source)
    return HUMAN


def unknown_agent_verdict(exclude: bool) -> BotVerdict:
    """Tier 1 for server-sourced events without any agent: a person unless the tenant excludes them."""
    return BotVerdict(is_bot=True, reason_code=BotReason.UNKNOWN_AGENT) if exclude else HUMAN


def describe_agent(user_agent: str | None) -> AgentProfile:
    """Device type, browser and OS; ``bot`` whenever tier 1 (without tenant rules) says so."""
    return _profile(_clean(user_agent))


def clear_agent_caches() -> None:
    """Forget cached parses and verdicts (benchmarks measure cold parsing with it)."""
    _library_verdict.cache_clear()
    _profile.cache_clear()
    _known_platform.cache_clear()


def validate_bot_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """The tenant's patterns trimmed, or ``BotPatternError`` naming the first unusable one."""
    return tuple(source for source, _ in _compile_patterns(tuple(patterns)))


@lru_cache(maxsize=AGENT_CACHE_SIZE)
def _library_verdict(agent: str) -> BotVerdict:
    """Steps 2-5 of the module docstring."""
    own, hits = own_list_hit(agent), list_hits(agent)
    cleaned = without_harmless(agent)
    if own is None and not hits:
        return _generic_verdict(cleaned)
    if cleaned != agent:
        own, hits = own_list_hit(cleaned), list_hits(cleaned)
        if own is None and not hits:
            return _generic_verdict(cleaned)
    if own is not None and (own[0] is not BotReason.CRAWLER or not hits):
        return BotVerdict(is_bot=True, reason_code=own[0], matched=f"{OWN_SOURCE}: {own[1]}")
    if own is None and not explicit_crawler(cleaned) and REAL_CLIENTS.search(cleaned):
        return HUMAN
    hit = _telling_hit(hits)
    return BotVerdict(is_bot=True, reason_code=hit.category, matched=f"{hit.source}: {hit.token}")


def _generic_verdict(agent: str) -> BotVerdict:
    """Step 6: no list names the agent; a generic sign of automation still makes it a bot, unless
    a known real client carries it."""
    generic = generic_hit(agent)
    if generic is None and mozilla_shell(agent) and not _known_platform(agent):
        generic = (BotReason.CRAWLER, agent)
    if generic is None or REAL_CLIENTS.search(agent):
        return HUMAN
    return BotVerdict(is_bot=True, reason_code=generic[0], matched=f"{OWN_SOURCE} (generic): {generic[1]}")


def _telling_hit(hits: list[ListHit]) -> ListHit:
    return next((hit for hit in hits if hit.category is not BotReason.CRAWLER), hits[0])


def lacks_browser_token(user_agent: str | None) -> bool:
    """A non-empty agent tier 1 let through that names no browser, platform, app or library, and in
    which the device parser finds no OS or device either: a bare product name (``AcmeSync/2.1``),
    the tier-3 signal ``no_browser_token``. Feature phones, TVs, speakers and watches that send
    no browser token (``Nokia2700c-2/2.0 ... Profile/MIDP-2.1``, ``Linux UPnP/1.0 Sonos/53.2``)
    are devices the parser knows."""
    agent = _clean(user_agent)
    return (bool(agent) and not _library_verdict(agent).is_bot and not has_browser_token(agent)
            and not _known_platform(agent))


@lru_cache(maxsize=AGENT_CACHE_SIZE)
def _known_platform(agent: str) -> bool:
    """ua-parser (uap-core's rules) finds an operating system, a device or a browser in the agent
    (and does not call it a ``Spider``)."""
    result = _PARSER.parse(agent)
    device = result.device.family if result.device else "Other"
    if device == "Spider":
        return False
    return bool(device != "Other" or (result.os and result.os.family != "Other")
                or (result.user_agent and result.user_agent.family != "Other"))


@lru_cache(maxsize=AGENT_CACHE_SIZE)
def _profile(agent: str) -> AgentProfile:
    result = _PARSER.parse(agent)
    browser, os = result.user_agent, result.os
    return AgentProfile(
        device_type=_device_type(agent, result),
        browser=browser.family if browser else "Other",
        browser_version=browser.major if browser else None,
        os=os.family if os else "Other",
        os_version=os.major if os else None,
    )


def _device_type(agent: str, result: ua_parser.Result) -> DeviceType:
    device = result.device.family if result.device else "Other"
    brand = result.device.brand if result.device else None
    os = result.os.family if result.os else "Other"
    if not agent or device == "Spider" or _library_verdict(agent).is_bot:
        return DeviceType.BOT
    if _TV_OR_CONSOLE.search(agent):
        return DeviceType.OTHER
    if device in _TABLET_DEVICES or brand == "Generic_Android_Tablet":
        return DeviceType.TABLET
    if device in _PHONE_DEVICES or os in _MOBILE_OS:
        # Android tablets leave "Mobile" out of the agent; phones always send it.
        if os == "Android" and "Mobile" not in agent:
            return DeviceType.TABLET
        return DeviceType.MOBILE
    if os in _DESKTOP_OS or "Windows NT" in agent or "X11" in agent:
        return DeviceType.DESKTOP
    return DeviceType.OTHER


@lru_cache(maxsize=256)
def _compile_patterns(patterns: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    if len(patterns) > MAX_TENANT_PATTERNS:
        raise InvalidArgument("bot_patterns", f"at most {MAX_TENANT_PATTERNS} patterns, got {len(patterns)}")
    return tuple((pattern.strip(), _compile_pattern(pattern.strip())) for pattern in patterns)


def _compile_pattern(pattern: str) -> Any:
    if not pattern:
        raise BotPatternError(pattern, "is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise BotPatternError(pattern, f"is longer than {MAX_PATTERN_LENGTH} characters")
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            expression = re2.compile(pattern[1:-1], _RE2_OPTIONS)
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise BotPatternError(pattern, f"is not a valid RE2 regular expression: {detail}") from None
    else:
        expression = re2.compile(re2.escape(pattern), _RE2_OPTIONS)
    if expression.search("") is not None:
        raise BotPatternError(pattern, "matches every user agent")
    if any(expression.search(browser) for browser in _ORDINARY_BROWSERS):
        raise BotPatternError(pattern, "matches ordinary browsers (Chrome, Safari or Firefox)")
    return expression
