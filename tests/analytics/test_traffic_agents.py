"""Tier-1 bot verdicts and device/browser/OS parsing on real user agents (no database needed)."""

from __future__ import annotations

import pytest
from crawlerdetect import CrawlerDetect

from analytics.errors import InvalidArgument
from analytics.traffic.agents import (
    HUMAN,
    MAX_TENANT_PATTERNS,
    AgentProfile,
    BotPatternError,
    BotReason,
    BotVerdict,
    DeviceType,
    describe_agent,
    is_bot,
    validate_bot_patterns,
)

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/131.0.2903.51"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/18.1 Safari/605.1.15")
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
FIREFOX_UBUNTU = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
CHROME_OS = ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/130.0.0.0 Safari/537.36")
OPERA_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/18.1 Mobile/15E148 Safari/604.1")
CHROME_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Mobile Safari/537.36")
SAMSUNG_ANDROID = ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36")
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
FACEBOOK_IN_APP = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                   "Mobile/15E148 [FBAN/FBIOS;FBAV/485.0.0.41.107;FBBV/649567000]")
INSTAGRAM_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240905.003; wv) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.86 Mobile Safari/537.36 Instagram "
                     "354.0.0.50.107 Android")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.6 Mobile/15E148 Safari/604.1")
GALAXY_TAB = ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0"
KINDLE_FIRE = ("Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 (KHTML, like "
               "Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36")
SAMSUNG_TV = ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 "
              "Chrome/76.0.3809.146 TV Safari/537.36")
FIRE_TV = ("Mozilla/5.0 (Linux; Android 9; AFTMM) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
           "Safari/537.36")
XBOX = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edge/44.18363.8131")

ORDINARY_BROWSERS = [CHROME_WINDOWS, EDGE_WINDOWS, FIREFOX_WINDOWS, SAFARI_MAC, CHROME_MAC, FIREFOX_UBUNTU,
                     CHROME_OS, OPERA_WINDOWS, SAFARI_IPHONE, CHROME_IPHONE, CHROME_ANDROID, SAMSUNG_ANDROID,
                     FIREFOX_ANDROID, FACEBOOK_IN_APP, INSTAGRAM_ANDROID, SAFARI_IPAD, GALAXY_TAB, KINDLE_FIRE,
                     SAMSUNG_TV, XBOX]

# (user agent, reason code, the token that decided it)
KNOWN_BOTS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "ua_crawler", "Googlebot"),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "ua_crawler", "Googlebot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "ua_crawler", "bingbot"),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "ua_crawler", "DuckDuckBot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
     "ua_ai_crawler", "ChatGPT-User"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot",
     "ua_ai_crawler", "GPTBot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; OAI-SearchBot/1.0; "
     "+https://openai.com/searchbot", "ua_ai_crawler", "OAI-SearchBot"),
    ("Claude-Web/1.0 (web crawler; +https://www.anthropic.com/; claude-web@anthropic.com)",
     "ua_ai_crawler", "Claude-Web"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
     "ua_ai_crawler", "ClaudeBot"),
    ("anthropic-ai", "ua_ai_crawler", "anthropic-ai"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; "
     "+https://perplexity.ai/perplexitybot)", "ua_ai_crawler", "PerplexityBot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
     "+https://perplexity.ai/perplexity-user)", "ua_ai_crawler", "Perplexity-User"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "ua_seo_tool", "Ahrefs"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "ua_seo_tool", "Semrush"),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "ua_seo_tool", "MJ12bot"),
    ("Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
     "ua_seo_tool", "DotBot"),
    ("rogerbot/1.0 (http://moz.com/help/pro/what-is-rogerbot-, rogerbot-crawler+shiny@moz.com)",
     "ua_seo_tool", "rogerbot"),
    ("python-requests/2.32.3", "ua_http_library", "python-requests"),
    ("python-httpx/0.27.2", "ua_http_library", "python-httpx"),
    ("Python/3.12 aiohttp/3.10.5", "ua_http_library", "aiohttp/"),
    ("curl/8.7.1", "ua_http_library", "curl"),
    ("Wget/1.21.4", "ua_http_library", "Wget"),
    ("Go-http-client/2.0", "ua_http_library", "Go-http-client"),
    ("axios/1.7.7", "ua_http_library", "axios/"),
    ("node", "ua_http_library", "node"),
    ("okhttp/4.12.0", "ua_http_library", "okhttp"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.69 "
     "Safari/537.36", "ua_headless", "Headless"),
    ("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
     "ua_headless", "PhantomJS/"),
    # A link-preview crawler naming its HTTP library is still a crawler, not a library.
    ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
     "ua_crawler", "LinkedInBot"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
     "ua_crawler", "facebookexternalhit"),
]


@pytest.mark.parametrize("agent", ORDINARY_BROWSERS)
def test_ordinary_browsers_are_not_bots(agent: str) -> None:
    assert is_bot(agent) == HUMAN
    assert describe_agent(agent).device_type is not DeviceType.BOT


@pytest.mark.parametrize(("agent", "reason", "matched"), KNOWN_BOTS)
def test_known_bots_are_flagged_with_their_kind(agent: str, reason: str, matched: str) -> None:
    assert is_bot(agent) == BotVerdict(is_bot=True, reason_code=BotReason(reason), matched=matched)
    assert describe_agent(agent).device_type is DeviceType.BOT


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_an_empty_user_agent_is_a_bot(agent: str | None) -> None:
    assert is_bot(agent) == BotVerdict(is_bot=True, reason_code=BotReason.EMPTY, matched=None)
    assert describe_agent(agent) == AgentProfile(DeviceType.BOT, "Other", None, "Other", None)


def test_verdicts_agree_with_the_crawlerdetect_class() -> None:
    """We search crawlerdetect's lists with RE2; the verdicts must be the library's own."""
    agents = ORDINARY_BROWSERS + [agent for agent, _, _ in KNOWN_BOTS if agent not in
                                  ("anthropic-ai", "node") and "Perplexity-User" not in agent]
    assert [is_bot(agent).is_bot for agent in agents] == [CrawlerDetect().is_crawler(agent) for agent in agents]
    # The one pattern RE2 cannot express ("Yandex(?!Search)") still decides both ways.
    assert is_bot("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)").is_bot
    assert is_bot("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/130.0.0.0 YandexSearch/24.101 Mobile Safari/537.36") == HUMAN


@pytest.mark.parametrize(("agent", "profile"), [
    (CHROME_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Chrome", "131", "Windows", "10")),
    (EDGE_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Edge", "131", "Windows", "10")),
    (FIREFOX_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Firefox", "133", "Windows", "10")),
    (SAFARI_MAC, AgentProfile(DeviceType.DESKTOP, "Safari", "18", "Mac OS X", "10")),
    (FIREFOX_UBUNTU, AgentProfile(DeviceType.DESKTOP, "Firefox", "132", "Ubuntu", None)),
    (CHROME_OS, AgentProfile(DeviceType.DESKTOP, "Chrome", "130", "Chrome OS", "14541")),
    (OPERA_WINDOWS, AgentProfile(DeviceType.DESKTOP, "Opera", "115", "Windows", "10")),
    (SAFARI_IPHONE, AgentProfile(DeviceType.MOBILE, "Mobile Safari", "18", "iOS", "18")),
    (CHROME_IPHONE, AgentProfile(DeviceType.MOBILE, "Chrome Mobile iOS", "131", "iOS", "17")),
    (CHROME_ANDROID, AgentProfile(DeviceType.MOBILE, "Chrome Mobile", "131", "Android", "10")),
    (SAMSUNG_ANDROID, AgentProfile(DeviceType.MOBILE, "Samsung Internet", "26", "Android", "14")),
    (FIREFOX_ANDROID, AgentProfile(DeviceType.MOBILE, "Firefox Mobile", "133", "Android", "14")),
    (FACEBOOK_IN_APP, AgentProfile(DeviceType.MOBILE, "Facebook", "485", "iOS", "18")),
    (SAFARI_IPAD, AgentProfile(DeviceType.TABLET, "Mobile Safari", "17", "iOS", "17")),
    (GALAXY_TAB, AgentProfile(DeviceType.TABLET, "Chrome", "131", "Android", "14")),
    (FIREFOX_ANDROID_TABLET, AgentProfile(DeviceType.TABLET, "Firefox Mobile", "133", "Android", "14")),
    (KINDLE_FIRE, AgentProfile(DeviceType.TABLET, "Amazon Silk", "3", "Android", "4")),
    (SAMSUNG_TV, AgentProfile(DeviceType.OTHER, "Samsung Internet", "4", "Tizen", "6")),
    (FIRE_TV, AgentProfile(DeviceType.OTHER, "Chrome", "130", "Android", "9")),
    (XBOX, AgentProfile(DeviceType.OTHER, "Edge", "44", "Windows", "10")),
    ("python-requests/2.32.3", AgentProfile(DeviceType.BOT, "Python Requests", "2", "Other", None)),
])
def test_device_type_browser_and_os(agent: str, profile: AgentProfile) -> None:
    assert describe_agent(agent) == profile


def test_tenant_patterns_are_substrings_or_slashed_regexes_ignoring_case() -> None:
    rules = ["acme-qa", r"/^InternalMonitor\/\d+$/"]
    assert is_bot(CHROME_WINDOWS + " ACME-QA/2.0", rules) == BotVerdict(
        is_bot=True, reason_code=BotReason.TENANT_RULE, matched="acme-qa")
    assert is_bot("internalmonitor/12", rules) == BotVerdict(
        is_bot=True, reason_code=BotReason.TENANT_RULE, matched=r"/^InternalMonitor\/\d+$/")
    assert is_bot("InternalMonitor/12 (extra)", rules) == HUMAN  # anchored: the regex is honoured
    assert is_bot(CHROME_WINDOWS, rules) == HUMAN


def test_library_verdict_comes_before_a_tenant_rule() -> None:
    assert is_bot("curl/8.7.1", ["curl"]).reason_code is BotReason.HTTP_LIBRARY


@pytest.mark.parametrize(("pattern", "message"), [
    ("   ", "bot_patterns: pattern '' is empty"),
    ("/(unclosed/", "bot_patterns: pattern '/(unclosed/' is not a valid RE2 regular expression: "
                    "missing ): (unclosed"),
    ("/(?<=bot)x/", "bot_patterns: pattern '/(?<=bot)x/' is not a valid RE2 regular expression: "
                    "invalid perl operator: (?<="),
    ("/.*/", "bot_patterns: pattern '/.*/' matches every user agent"),
    ("Mozilla", "bot_patterns: pattern 'Mozilla' matches ordinary browsers (Chrome, Safari or Firefox)"),
    ("/safari/", "bot_patterns: pattern '/safari/' matches ordinary browsers (Chrome, Safari or Firefox)"),
    ("x" * 201, f"bot_patterns: pattern '{'x' * 201}' is longer than 200 characters"),
])
def test_bad_tenant_patterns_are_refused_by_name(pattern: str, message: str) -> None:
    with pytest.raises(BotPatternError) as caught:
        validate_bot_patterns(["good-bot", pattern])
    assert str(caught.value) == message
    with pytest.raises(BotPatternError):
        is_bot("anything", [pattern])


def test_pattern_validation_returns_the_trimmed_patterns_and_caps_their_number() -> None:
    assert validate_bot_patterns([" acme-uptime ", "/^probe/"]) == ("acme-uptime", "/^probe/")
    assert validate_bot_patterns(["x" * 200]) == ("x" * 200,)
    assert len(validate_bot_patterns([f"bot-{n}" for n in range(MAX_TENANT_PATTERNS)])) == MAX_TENANT_PATTERNS
    with pytest.raises(InvalidArgument, match="at most 100 patterns, got 101"):
        validate_bot_patterns([f"bot-{n}" for n in range(MAX_TENANT_PATTERNS + 1)])


def test_a_user_agent_longer_than_the_limit_is_judged_on_its_first_1024_characters() -> None:
    assert is_bot(CHROME_WINDOWS + " " * 2000 + "Googlebot") == HUMAN
    assert is_bot("x" * 1000 + " Googlebot/2.1").is_bot
