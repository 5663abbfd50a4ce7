"""Tier 2: vulnerability scanners, by the paths they probe and the tools their user agents name.

Path rules look at the URL path only: the query and fragment are dropped, the path is
percent-decoded (so ``/%2Eenv`` is ``/.env``), repeated slashes are collapsed and case is ignored.
Each rule has a name; a tenant whose own site serves such paths (a PHP site, a WordPress blog)
exempts rules by name rather than losing the whole tier. Rules are tried in the order of
``PATH_RULES``, most specific first, so ``/wp-login.php`` is reported as ``wordpress``; with
``wordpress`` exempt it is still a ``php`` path (a session records every rule its paths met).

High request velocity is the third tier-2 reason, a session's: more than ``VELOCITY_LIMIT`` page
views inside any ``VELOCITY_WINDOW`` (:func:`peak_requests`). The behavioural scorer (tier 3) looks
at the session's average rate with its other signals.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from analytics.errors import InvalidArgument


class ScannerReason(enum.StrEnum):
    PATH = "scan_path"
    AGENT = "scan_agent"
    VELOCITY = "scan_velocity"


VELOCITY_WINDOW = timedelta(seconds=60)
VELOCITY_LIMIT = 60  # more than this many page views inside one window: no person clicks that fast


def peak_requests(times: Sequence[datetime], window: timedelta = VELOCITY_WINDOW) -> int:
    """The most requests inside any ``window`` (from a request, up to but not including
    ``window`` later); ``times`` in order."""
    best = first = 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


@dataclass(frozen=True, slots=True)
class ScannerVerdict:
    """``path_rule`` names the rule, ``matched_path`` the part of the path it matched."""

    is_scanner: bool
    reason_codes: tuple[ScannerReason, ...] = ()
    path_rule: str | None = None
    matched_path: str | None = None
    matched_agent: str | None = None


NOT_A_SCANNER = ScannerVerdict(is_scanner=False)

_SEGMENT_END = r"(?=/|$)"

PATH_RULES: dict[str, re.Pattern[str]] = {
    # Credentials and source control: no public site serves these.
    "secrets": re.compile(
        r"(?:^|/)(\.(?:env(?:\.[\w.-]+)?|git|svn|hg|aws|ssh|kube|docker|npmrc|htpasswd|htaccess|ds_store"
        r"|bash_history)|id_rsa|wp-config\.php(?:\.\w+)?|config\.php\.bak)" + _SEGMENT_END),
    # Known exploit targets and traversal attempts.
    "exploits": re.compile(
        r"(vendor/phpunit|eval-stdin\.php|\.\./|/etc/passwd|/proc/self/environ"
        r"|(?<![^/])(?:hnap1|boaform)" + _SEGMENT_END + ")"),
    "wordpress": re.compile(
        r"(?:^|/)(wp-admin|wp-login\.php|wp-includes|xmlrpc\.php|wp-content/plugins)" + _SEGMENT_END),
    "admin_tools": re.compile(
        r"(?:^|/)(phpmyadmin|myadmin|pma|adminer(?:\.php)?|phpinfo(?:\.php)?|server-status|actuator"
        r"|cgi-bin|manager/html|solr/admin|jenkins/script)" + _SEGMENT_END),
    "backups": re.compile(r"(?:^|/)([^/]+\.(?:sql|sql\.gz|bak|old|swp|orig))$"),
    # Last: only a PHP site serves these, and it can exempt the rule.
    "php": re.compile(r"(?:^|/)([^/]*\.php\d?)" + _SEGMENT_END),
}

# Tools that announce themselves; "Fuzz Faster U Fool" is ffuf's default agent.
SCANNER_AGENTS = re.compile(
    r"\b(sqlmap|nikto|nmap|masscan|zgrab|zmap|nuclei|wpscan|dirbuster|dirb|gobuster|feroxbuster|ffuf"
    r"|fuzz faster u fool|wfuzz|acunetix|netsparker|nessus|openvas|qualys|w3af|arachni|whatweb|jaeles"
    r"|zmeu|morfeus|censysinspect|l9explore|l9tcpid)\b",
    re.IGNORECASE)


def is_scanner(path: str, user_agent: str | None, *, exempt_rules: Collection[str] = ()) -> ScannerVerdict:
    """Tier 2 verdict for one request: ``scan_path``, ``scan_agent``, both or neither.

    Verdicts are cached (``SCANNER_CACHE_SIZE`` entries): a site has few distinct paths and agents,
    and the worker asks again for every event each time it re-derives a visitor's sessions."""
    return _verdict(path, user_agent, frozenset(exempt_rules))


SCANNER_CACHE_SIZE = 16384


@lru_cache(maxsize=SCANNER_CACHE_SIZE)
def _verdict(path: str, user_agent: str | None, exempt_rules: frozenset[str]) -> ScannerVerdict:
    check_path_rules("exempt_rules", exempt_rules)
    normalised = normalise_path(path)
    path_rule = matched_path = None
    for name, expression in PATH_RULES.items():
        if name not in exempt_rules and (hit := expression.search(normalised)):
            path_rule, matched_path = name, hit.group(1)
            break
    agent_hit = SCANNER_AGENTS.search(user_agent or "")
    matched_agent = agent_hit.group(1).lower() if agent_hit else None
    reasons = tuple(reason for reason, found in ((ScannerReason.PATH, path_rule), (ScannerReason.AGENT,
                                                                                    matched_agent)) if found)
    if not reasons:
        return NOT_A_SCANNER
    return ScannerVerdict(is_scanner=True, reason_codes=reasons, path_rule=path_rule,
                          matched_path=matched_path, matched_agent=matched_agent)


def check_path_rules(field: str, rules: Collection[str]) -> tuple[str, ...]:
    """The named path rules in ``PATH_RULES`` order; ``InvalidArgument`` names an unknown one."""
    unknown = sorted(set(rules) - PATH_RULES.keys())
    if unknown:
        raise InvalidArgument(field, f"unknown scanner rule {unknown[0]!r}; rules are "
                                     f"{', '.join(PATH_RULES)}")
    return tuple(name for name in PATH_RULES if name in rules)


def normalise_path(path_or_url: str) -> str:
    """The decoded, lower-cased path of a URL or of a path with a query string."""
    text = path_or_url.strip()
    if "://" in text.split("?", 1)[0]:
        text = urlsplit(text).path
    else:  # a bare path: urlsplit would read "//host/..." as a network location
        text = text.split("#", 1)[0].split("?", 1)[0]
    return re.sub(r"/{2,}", "/", unquote(text)).lower()
