"""Traffic sources: a session's referrer and landing URL become one source class, plus its UTM tags.

Precedence, first match wins (tags the marketer wrote beat what the browser sent):

1. ``paid``: ``utm_medium`` cpc, ppc, cpm, cpv, cpa, display, banner, retargeting or ``paid*``;
   or an ad-click id on the landing URL (``AD_CLICK_IDS``).
2. ``email``: ``utm_medium`` email / e-mail / newsletter, or ``utm_source`` containing "newsletter".
3. ``social``: ``utm_medium`` social, social-network, social-media, sm.
4. ``organic_search``: ``utm_medium`` organic.
5. The referrer's host: webmail → ``email``, search engine → ``organic_search``, social network →
   ``social``, any other site that is not the tenant's → ``referral``.
6. No referrer, or the tenant's own host: a ``utm_source`` naming a search engine or social
   network ("google", "facebook.com") gives that class; otherwise ``direct``.

``fbclid`` is deliberately not an ad-click id: Facebook appends it to every outbound link,
organic posts included, so it would report organic Facebook traffic as paid. Such visits are
``social`` through their referrer, or ``paid`` when the ad carries paid UTM tags.

The host tables are compact and written here: the referer-parser package on PyPI (Snowplow's
list) has had no release since 2016. A table entry matches that host and its subdomains; an entry
ending in ``.*`` matches the name under any country domain (``google.de``, ``google.co.uk``) but
no subdomain (``gemini.google.com`` is a referral). ``www.`` and ``m.`` prefixes are ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit


class TrafficSource(enum.StrEnum):
    DIRECT = "direct"
    ORGANIC_SEARCH = "organic_search"
    SOCIAL = "social"
    REFERRAL = "referral"
    EMAIL = "email"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class Utm:
    """The landing URL's UTM tags as sent (trimmed; absent or blank is None)."""

    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None


PAID_MEDIUMS = frozenset({"cpc", "ppc", "cpm", "cpv", "cpa", "display", "banner", "retargeting"})
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "newsletter"})
SOCIAL_MEDIUMS = frozenset({"social", "social-network", "social_network", "social-media", "social_media",
                            "sm"})
ORGANIC_MEDIUMS = frozenset({"organic"})
# Google Ads (gclid, gbraid, wbraid), Campaign Manager, Microsoft, TikTok, X, LinkedIn and Yandex ads.
AD_CLICK_IDS = frozenset({"gclid", "gbraid", "wbraid", "dclid", "msclkid", "ttclid", "twclid", "li_fat_id",
                          "yclid"})

WEBMAIL_HOSTS = (
    "mail.google.com", "com.google.android.gm", "outlook.live.com", "outlook.office.com",
    "outlook.office365.com", "mail.yahoo.com", "mail.aol.com", "mail.proton.me", "mail.zoho.com",
    "app.fastmail.com", "mail.yandex.*", "e.mail.ru", "navigator.gmx.net", "navigator.web.de",
)
SEARCH_HOSTS = (
    "google.*", "com.google.android.googlequicksearchbox", "bing.com", "duckduckgo.com",
    "search.yahoo.com", "search.yahoo.co.jp", "yandex.*", "ya.ru", "baidu.com", "ecosia.org", "qwant.com",
    "startpage.com", "search.brave.com", "kagi.com", "search.naver.com", "search.seznam.cz", "sogou.com",
    "so.com", "ask.com", "search.aol.com", "search.daum.net", "mojeek.com",
)
SOCIAL_HOSTS = (
    "facebook.com", "fb.me", "instagram.com", "threads.net", "twitter.com", "x.com", "t.co",
    "linkedin.com", "lnkd.in", "reddit.com", "com.reddit.frontpage", "news.ycombinator.com",
    "youtube.com", "youtu.be", "tiktok.com", "pinterest.*", "pin.it", "tumblr.com", "bsky.app",
    "mastodon.social", "vk.com", "weibo.com", "quora.com", "discord.com", "t.me", "snapchat.com",
)


def utm(landing_url: str | None) -> Utm:
    """UTM tags of the landing URL; parameter names are matched case-insensitively, first one wins."""
    tags: dict[str, str] = {}
    for key, value in _query(landing_url):
        name = key.lower()
        if name.startswith("utm_") and value.strip():
            tags.setdefault(name, value.strip())
    return Utm(source=tags.get("utm_source"), medium=tags.get("utm_medium"),
               campaign=tags.get("utm_campaign"), term=tags.get("utm_term"), content=tags.get("utm_content"))


def classify_source(referrer_url: str | None, landing_url: str | None,
                    own_hosts: Collection[str] = ()) -> TrafficSource:
    """The session's source class, by the precedence in the module docstring."""
    tags = utm(landing_url)
    medium = (tags.medium or "").casefold()
    source = (tags.source or "").casefold()
    if medium in PAID_MEDIUMS or medium.startswith("paid") or _has_ad_click_id(landing_url):
        return TrafficSource.PAID
    if medium in EMAIL_MEDIUMS or "newsletter" in source:
        return TrafficSource.EMAIL
    if medium in SOCIAL_MEDIUMS:
        return TrafficSource.SOCIAL
    if medium in ORGANIC_MEDIUMS:
        return TrafficSource.ORGANIC_SEARCH

    own = {_normalise_host(host) for host in own_hosts} | {_host(landing_url)}
    referrer_host = _host(referrer_url)
    if referrer_host and referrer_host not in own:
        return _classify_host(referrer_host) or TrafficSource.REFERRAL
    if source:
        return _classify_host(_normalise_host(source)) or _classify_name(source) or TrafficSource.DIRECT
    return TrafficSource.DIRECT


def _classify_host(host: str) -> TrafficSource | None:
    for table, source in ((WEBMAIL_HOSTS, TrafficSource.EMAIL), (SEARCH_HOSTS, TrafficSource.ORGANIC_SEARCH),
                          (SOCIAL_HOSTS, TrafficSource.SOCIAL)):
        if any(_host_matches(host, entry) for entry in table):
            return source
    return None


def _classify_name(name: str) -> TrafficSource | None:
    """A bare utm_source such as "google" or "x": the first label of a two-label or ``.*`` entry."""
    for table, source in ((SEARCH_HOSTS, TrafficSource.ORGANIC_SEARCH), (SOCIAL_HOSTS, TrafficSource.SOCIAL)):
        if any(entry.endswith(".*") or entry.count(".") == 1 for entry in table
               if entry.split(".")[0] == name):
            return source
    return None


def _host_matches(host: str, entry: str) -> bool:
    if entry.endswith(".*"):
        name = entry[:-2]
        if not host.startswith(name + "."):
            return False
        country = host[len(name) + 1:].split(".")
        return len(country) <= 2 and all(0 < len(label) <= 3 for label in country)
    return host == entry or host.endswith("." + entry)


def _host(url: str | None) -> str:
    text = (url or "").strip()
    if not text:
        return ""
    if "://" not in text:
        text = "http://" + text  # referrers sometimes arrive without a scheme
    try:
        return _normalise_host(urlsplit(text).hostname or "")
    except ValueError:  # an unparseable URL (bad IPv6 literal, bad port) has no usable host
        return ""


def _normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".").split(":", 1)[0]
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


def _query(url: str | None) -> list[tuple[str, str]]:
    try:
        return parse_qsl(urlsplit((url or "").strip()).query)
    except ValueError:
        return []


def _has_ad_click_id(landing_url: str | None) -> bool:
    return any(key.lower() in AD_CLICK_IDS and value.strip() for key, value in _query(landing_url))
